//! The apply driver shared by every connector.
//!
//! So far: the phase loop. [`phases`] splits an app's changes (in plan order) into the
//! phases of [`Phase::APPLY_ORDER`], skipping empty ones, so a connector only says what
//! each phase does.

use crate::plan::{Change, Phase};

/// The non-empty phases of `changes` in apply order, each with the indexes of its
/// changes in plan order.
pub fn phases(changes: &[Change]) -> Vec<(Phase, Vec<usize>)> {
    Phase::APPLY_ORDER
        .iter()
        .filter_map(|&phase| {
            let idx: Vec<usize> = (0..changes.len())
                .filter(|&i| changes[i].phase() == phase)
                .collect();
            (!idx.is_empty()).then_some((phase, idx))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, ObjectKind};

    fn change(object: ObjectKind, action: Action, key: &str) -> Change {
        Change {
            app: "a".into(),
            object,
            key: key.into(),
            action,
            group: None,
            member: None,
            sku: None,
            id: None,
            before: None,
            after: None,
            reason: String::new(),
        }
    }

    #[test]
    fn phases_follow_the_apply_order_and_skip_empty_ones() {
        let changes = [
            change(ObjectKind::User, Action::Delete, "old"),
            change(ObjectKind::Membership, Action::Add, "g/alice"),
            change(ObjectKind::User, Action::Create, "alice"),
            change(ObjectKind::Group, Action::Create, "g"),
            change(ObjectKind::User, Action::Update, "bob"),
        ];
        assert_eq!(
            phases(&changes),
            vec![
                (Phase::CreateGroups, vec![3]),
                (Phase::CreateUpdateEnableUsers, vec![2, 4]),
                (Phase::MembershipAdds, vec![1]),
                (Phase::DisableDeleteUsers, vec![0]),
            ]
        );
        assert!(phases(&[]).is_empty());
    }
}
