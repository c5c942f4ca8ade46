//! The deletion guard: an apply whose deletes + disables exceed an app's limit is
//! refused, before anything is changed, unless `--allow-deletes N` covers it.

use crate::plan::Plan;

/// Checks every app's guard; returns one message per app that is over its limit.
pub fn check(plan: &Plan, allow_deletes: Option<usize>) -> Result<(), Vec<String>> {
    let refusals: Vec<String> = plan
        .deletion_guards
        .iter()
        .filter(|g| g.exceeded())
        .filter(|g| allow_deletes.is_none_or(|n| g.deletes > n))
        .map(|g| {
            format!(
                "app {}: the plan deletes or disables {} objects, more than max_deletes {}; \
                 nothing was changed. Review the plan, then rerun with --allow-deletes {} to proceed",
                g.app, g.deletes, g.limit, g.deletes
            )
        })
        .collect();
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{DeletionGuard, FORMAT_VERSION, SourceInfo, Summary};

    fn plan_with(deletes: usize, limit: usize) -> Plan {
        Plan {
            format_version: FORMAT_VERSION.into(),
            source: SourceInfo::default(),
            changes: vec![],
            skipped: vec![],
            warnings: vec![],
            summary: Summary::default(),
            deletion_guards: vec![DeletionGuard {
                app: "o365".into(),
                deletes,
                limit,
            }],
        }
    }

    #[test]
    fn over_the_limit_needs_allow_deletes_covering_it() {
        assert!(check(&plan_with(5, 5), None).is_ok());
        let err = check(&plan_with(30, 5), None).unwrap_err();
        assert!(err[0].contains("--allow-deletes 30"), "{err:?}");
        assert!(check(&plan_with(30, 5), Some(29)).is_err());
        assert!(check(&plan_with(30, 5), Some(30)).is_ok());
    }
}
