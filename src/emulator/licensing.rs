//! Group-based licensing: the licences users inherit from groups, their states and the
//! tenant's seat accounting.
//!
//! What Microsoft documents and the emulator reproduces:
//! - api/group-assignlicense.md: "Licenses assigned to the group will be assigned to
//!   all users in the group."
//! - entra-docs licensing-group-advanced.md, Limitations: only the *direct* user
//!   members of a group get its licences ("only the immediate first-level user members
//!   of the group have the licenses applied"); users without a usage location inherit
//!   the directory's, so no usage location is needed; a user holding one product
//!   through several assignments uses one licence of it.
//! - resources/licenseassignmentstate.md: one state per assignment, `assignedByGroup`
//!   `null` for a direct one and the group's id for an inherited one; `state` `Active`
//!   or `Error` with `error` `CountViolation` when the subscription has no seat left.
//! - resources/user.md (assignedLicenses): "The licenses that are assigned to the
//!   user, including inherited (group-based) licenses" — one entry per SKU.
//! - entra-docs licensing-groups-resolve-problems.md: when one product of a group
//!   cannot be assigned to a user, the group's other products are not assigned either;
//!   errors stay until the assignment is processed again (here: the next change of the
//!   user's memberships or licences).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{AssignedLicense, InheritedLicense, Tenant, User};
use super::service_plans;

/// The SKUs a user holds (and takes a seat of): direct assignments and active
/// inherited ones.
pub fn held_skus(u: &User) -> BTreeSet<Uuid> {
    u.assigned_licenses
        .iter()
        .map(|l| l.sku_id)
        .chain(
            u.inherited_licenses
                .iter()
                .filter(|l| l.active)
                .map(|l| l.sku_id),
        )
        .collect()
}

/// `assignedLicenses` as Graph returns it: one entry per held SKU; the disabled plans
/// are those disabled in every assignment of the SKU (the services any assignment
/// enables are enabled).
pub fn assigned_licenses_json(u: &User) -> Value {
    Value::Array(
        held_licenses(u)
            .iter()
            .map(|(sku, disabled)| {
                let disabled: Vec<String> = disabled.iter().map(Uuid::to_string).collect();
                json!({ "disabledPlans": disabled, "skuId": sku.to_string() })
            })
            .collect(),
    )
}

/// Each held SKU once, in first-assignment order, with the plans disabled in every
/// assignment of it.
fn held_licenses(u: &User) -> Vec<(Uuid, BTreeSet<Uuid>)> {
    let mut out: Vec<(Uuid, BTreeSet<Uuid>)> = Vec::new();
    let all = u
        .assigned_licenses
        .iter()
        .map(|l| (l.sku_id, &l.disabled_plans))
        .chain(
            u.inherited_licenses
                .iter()
                .filter(|l| l.active)
                .map(|l| (l.sku_id, &l.disabled_plans)),
        );
    for (sku, disabled) in all {
        let set: BTreeSet<Uuid> = disabled.iter().copied().collect();
        match out.iter_mut().find(|(s, _)| *s == sku) {
            Some((_, cur)) => *cur = cur.intersection(&set).copied().collect(),
            None => out.push((sku, set)),
        }
    }
    out
}

/// When the user got a SKU: the latest processing of an inherited assignment, else
/// the user's creation (the emulator keeps no date for direct assignments).
fn assigned_at(u: &User, sku: Uuid) -> String {
    u.inherited_licenses
        .iter()
        .filter(|l| l.active && l.sku_id == sku && !l.last_updated.is_empty())
        .map(|l| l.last_updated.clone())
        .min()
        .unwrap_or_else(|| u.created_date_time.clone())
}

/// `assignedPlans` (resources/user.md, resources/assignedplan.md): one
/// `{assignedDateTime, capabilityStatus, service, servicePlanId}` per service plan of
/// the user's licences, direct and group-inherited, leaving out the plans disabled in
/// every assignment of their SKU; a plan two SKUs share is listed once.
pub fn assigned_plans_json(u: &User) -> Value {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for (sku, disabled) in held_licenses(u) {
        let at = assigned_at(u, sku);
        for (name, id) in service_plans::for_sku_id(sku) {
            if is_disabled(&disabled, id) || !seen.insert(id) {
                continue;
            }
            out.push(json!({
                "assignedDateTime": at,
                "capabilityStatus": "Enabled",
                "service": service_plans::service_name(name),
                "servicePlanId": id,
            }));
        }
    }
    Value::Array(out)
}

fn is_disabled(disabled: &BTreeSet<Uuid>, plan: &str) -> bool {
    disabled
        .iter()
        .any(|d| d.to_string().eq_ignore_ascii_case(plan))
}

/// `GET /users/{id}/licenseDetails` (api/user-list-licensedetails.md,
/// resources/licensedetails.md): one entry per held SKU, direct or inherited
/// ("licenses that are directly assigned and those transitively assigned through
/// memberships in licensed groups"), with its servicePlans (`servicePlanInfo`; a
/// disabled plan has `provisioningStatus` `Disabled`). The id is the user's and the
/// SKU's GUID bytes, base64url without padding, as in the page's example (both ids of
/// one user share their first 22 characters).
pub fn license_details_json(u: &User, part_number: &dyn Fn(Uuid) -> Option<String>) -> Vec<Value> {
    use base64::Engine as _;
    held_licenses(u)
        .into_iter()
        .map(|(sku, disabled)| {
            let mut raw = u.id.to_bytes_le().to_vec();
            raw.extend_from_slice(&sku.to_bytes_le());
            let plans: Vec<Value> = service_plans::for_sku_id(sku)
                .iter()
                .map(|(name, id)| {
                    json!({
                        "servicePlanId": id,
                        "servicePlanName": name,
                        "provisioningStatus": if is_disabled(&disabled, id) { "Disabled" } else { "Success" },
                        "appliesTo": "User",
                    })
                })
                .collect();
            json!({
                "id": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
                "skuId": sku.to_string(),
                "skuPartNumber": part_number(sku),
                "servicePlans": plans,
            })
        })
        .collect()
}

/// `licenseAssignmentStates`: the direct assignments (`assignedByGroup: null`) and the
/// inherited ones, each with its state.
pub fn license_states_json(u: &User) -> Value {
    let mut out: Vec<Value> = u
        .assigned_licenses
        .iter()
        .map(|l| {
            json!({
                "assignedByGroup": null,
                "disabledPlans": l.disabled_plans.iter().map(Uuid::to_string).collect::<Vec<_>>(),
                "error": null,
                "lastUpdatedDateTime": null,
                "skuId": l.sku_id.to_string(),
                "state": "Active",
            })
        })
        .collect();
    out.extend(u.inherited_licenses.iter().map(|l| {
        json!({
            "assignedByGroup": l.group.to_string(),
            "disabledPlans": l.disabled_plans.iter().map(Uuid::to_string).collect::<Vec<_>>(),
            // "If the license is assigned successfully, this field is Null."
            "error": l.error.clone(),
            "lastUpdatedDateTime": if l.last_updated.is_empty() { Value::Null } else { json!(l.last_updated) },
            "skuId": l.sku_id.to_string(),
            "state": if l.active { "Active" } else { "Error" },
        })
    }));
    Value::Array(out)
}

impl Tenant {
    /// Count each SKU's consumed seats from the users holding it (once per user).
    pub fn recount_seats(&mut self) {
        let mut counts: BTreeMap<Uuid, u32> = BTreeMap::new();
        for u in self.users.values() {
            for sku in held_skus(u) {
                *counts.entry(sku).or_default() += 1;
            }
        }
        for s in self.skus.iter_mut() {
            s.consumed = counts.get(&s.sku_id).copied().unwrap_or(0);
        }
    }

    /// Move seat counts from what a user held (`before`) to what it holds (`after`).
    pub fn adjust_seats(&mut self, before: &BTreeSet<Uuid>, after: &BTreeSet<Uuid>) {
        for s in self.skus.iter_mut() {
            let had = before.contains(&s.sku_id);
            let has = after.contains(&s.sku_id);
            if has && !had {
                s.consumed += 1;
            } else if had && !has {
                s.consumed = s.consumed.saturating_sub(1);
            }
        }
    }

    fn seats_free(&self, sku: Uuid, taken: u32) -> bool {
        self.skus
            .iter()
            .find(|s| s.sku_id == sku)
            .is_some_and(|s| s.consumed + taken < s.enabled)
    }

    /// Process the licences user `uid` inherits from the licensed groups it is a direct
    /// member of: keep active assignments, try new and failed ones, drop those of
    /// groups it left or SKUs a group no longer assigns; seats follow. Returns whether
    /// anything changed (the user is then touched for delta).
    pub fn reprocess_licenses(&mut self, uid: Uuid, now: &str) -> bool {
        let Some(u) = self.users.get(&uid) else {
            return false;
        };
        let before = held_skus(u);
        let old = u.inherited_licenses.clone();
        let direct: BTreeSet<Uuid> = u.assigned_licenses.iter().map(|l| l.sku_id).collect();
        let wanted: Vec<(Uuid, Vec<AssignedLicense>)> = self
            .licensed_groups
            .iter()
            .filter_map(|gid| self.groups.get(gid))
            .filter(|g| !g.assigned_licenses.is_empty() && g.members.contains(&uid))
            .map(|g| (g.id, g.assigned_licenses.clone()))
            .collect();
        let old_active = |g: Uuid, sku: Uuid| {
            old.iter()
                .any(|l| l.group == g && l.sku_id == sku && l.active)
        };
        // What the user will hold for sure: direct and still-wanted active assignments.
        let mut holding: BTreeSet<Uuid> = direct.clone();
        for (g, lics) in &wanted {
            for l in lics {
                if old_active(*g, l.sku_id) {
                    holding.insert(l.sku_id);
                }
            }
        }
        let mut taken: BTreeMap<Uuid, u32> = BTreeMap::new();
        let mut new: Vec<InheritedLicense> = Vec::new();
        for (g, lics) in &wanted {
            let mut need = Vec::new();
            let mut fail = BTreeSet::new();
            for l in lics {
                let sku = l.sku_id;
                if old_active(*g, sku) || holding.contains(&sku) || before.contains(&sku) {
                    continue;
                }
                let t = taken.get(&sku).copied().unwrap_or(0);
                if self.seats_free(sku, t) {
                    need.push(sku);
                } else {
                    fail.insert(sku);
                }
            }
            let ok = fail.is_empty();
            if ok {
                for sku in &need {
                    *taken.entry(*sku).or_default() += 1;
                }
            }
            for l in lics {
                let sku = l.sku_id;
                let keep = old_active(*g, sku);
                let active = keep || ok;
                let error = if active {
                    None
                } else if fail.contains(&sku) {
                    Some("CountViolation".to_string())
                } else {
                    Some("Other".to_string())
                };
                let prev = old.iter().find(|o| o.group == *g && o.sku_id == sku);
                let last_updated = match prev {
                    Some(p) if p.active == active && p.error == error => p.last_updated.clone(),
                    _ => now.to_string(),
                };
                if active {
                    holding.insert(sku);
                }
                new.push(InheritedLicense {
                    group: *g,
                    sku_id: sku,
                    disabled_plans: l.disabled_plans.clone(),
                    active,
                    error,
                    last_updated,
                });
            }
        }
        if new == old {
            return false;
        }
        let after = {
            let Some(u) = self.users.get_mut(&uid) else {
                return false;
            };
            u.inherited_licenses = new;
            held_skus(u)
        };
        self.adjust_seats(&before, &after);
        self.touch_user(uid);
        true
    }

    /// Reprocess every direct user member of group `gid` (after its licences or its
    /// members changed).
    pub fn reprocess_group_members(&mut self, gid: Uuid, now: &str) {
        if self
            .groups
            .get(&gid)
            .is_some_and(|g| !g.assigned_licenses.is_empty())
        {
            self.licensed_groups.insert(gid);
        } else {
            self.licensed_groups.remove(&gid);
        }
        let members: Vec<Uuid> = self
            .groups
            .get(&gid)
            .map(|g| {
                g.members
                    .iter()
                    .copied()
                    .filter(|m| self.users.contains_key(m))
                    .collect()
            })
            .unwrap_or_default();
        for m in members {
            self.reprocess_licenses(m, now);
        }
    }

    /// Whether a user holds `sku` only through groups (no direct assignment).
    pub fn holds_only_inherited(&self, uid: Uuid, sku: Uuid) -> bool {
        self.users.get(&uid).is_some_and(|u| {
            !u.assigned_licenses.iter().any(|l| l.sku_id == sku)
                && u.inherited_licenses.iter().any(|l| l.sku_id == sku)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::model::Group;

    fn tenant(seats: u32) -> (Tenant, Uuid) {
        let t = Tenant::new(
            "contoso",
            &["contoso.com".into()],
            &[("ENTERPRISEPACK".into(), seats)],
        );
        let sku = t.skus[0].sku_id;
        (t, sku)
    }

    fn add_user(t: &mut Tenant, name: &str) -> Uuid {
        let u = User {
            id: crate::emulator::model::name_uuid(name),
            user_principal_name: format!("{name}@contoso.com"),
            ..Default::default()
        };
        let id = u.id;
        t.insert_user(u);
        id
    }

    #[test]
    fn members_inherit_once_per_sku_and_seats_run_out() {
        let (mut t, sku) = tenant(2);
        let a = add_user(&mut t, "a");
        let b = add_user(&mut t, "b");
        let c = add_user(&mut t, "c");
        // a also holds the SKU directly: one seat for both assignments.
        if let Some(u) = t.users.get_mut(&a) {
            u.assigned_licenses.push(AssignedLicense {
                disabled_plans: vec![],
                sku_id: sku,
            });
        }
        t.recount_seats();
        let g = Group {
            id: Uuid::new_v4(),
            members: [a, b, c].into_iter().collect(),
            assigned_licenses: vec![AssignedLicense {
                disabled_plans: vec![],
                sku_id: sku,
            }],
            ..Default::default()
        };
        let gid = g.id;
        t.insert_group(g);
        t.reprocess_group_members(gid, "2024-01-01T00:00:00Z");
        assert_eq!(t.skus[0].consumed, 2);
        let states: Vec<bool> = [a, b, c]
            .iter()
            .map(|id| t.users[id].inherited_licenses[0].active)
            .collect();
        // Members are processed in id order; whoever comes after the last seat errs.
        assert_eq!(states.iter().filter(|s| !**s).count(), 1);
        let failed = [a, b, c]
            .into_iter()
            .find(|id| !t.users[id].inherited_licenses[0].active)
            .expect("one failed");
        assert_ne!(failed, a, "a reuses its own seat");
        assert_eq!(
            t.users[&failed].inherited_licenses[0].error.as_deref(),
            Some("CountViolation")
        );
        assert_eq!(
            license_states_json(&t.users[&a]).as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            assigned_licenses_json(&t.users[&a])
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        // Leaving the group drops the inherited licence and frees its seat.
        let other = if failed == b { c } else { b };
        if let Some(g) = t.groups.get_mut(&gid) {
            g.members.remove(&other);
        }
        assert!(t.reprocess_licenses(other, "2024-01-02T00:00:00Z"));
        assert_eq!(t.skus[0].consumed, 1);
        assert!(t.users[&other].inherited_licenses.is_empty());
    }
}
