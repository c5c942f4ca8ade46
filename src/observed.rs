//! Observed state: what a connector read from one live app, in one shape for every
//! app type, so that the planner never needs to know which protocol produced it.
//!
//! Attribute names are roster's own (`first_name`, `job_title`, ...), not Graph's or
//! LDAP's; each connector maps its protocol's attributes to these.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The live state of one app, limited to what the app's management scope may see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedApp {
    /// The app's name in the repository.
    pub app: String,
    /// Users in the app's management scope, sorted by `login`.
    pub users: Vec<ObservedUser>,
    /// Groups in the app's management scope, sorted by `name`.
    pub groups: Vec<ObservedGroup>,
    /// Domains verified in the tenant (office365); empty where the notion does not exist.
    pub verified_domains: Vec<String>,
    /// License SKUs of the tenant (office365); empty elsewhere.
    pub skus: Vec<ObservedSku>,
    /// An identifier of the live directory (tenant id, domain SID, SCIM base URL), so
    /// that caches and saved plans from another directory are detected.
    pub directory_id: Option<String>,
}

/// A live user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedUser {
    /// The stable id in the app (Graph object id, AD objectGUID, SCIM id).
    pub id: String,
    /// The matching key: userPrincipalName (office365), sAMAccountName (AD),
    /// userName (SCIM). Compared case-insensitively.
    pub login: String,
    /// The roster username if the app stores it (AD sAMAccountName, SCIM externalId).
    pub username: Option<String>,
    pub enabled: bool,
    /// Managed attributes by roster name: email, first_name, last_name, display_name,
    /// department, job_title, employee_id, usage_location, mobile_phone. Absent and
    /// empty values are both left out.
    pub attributes: BTreeMap<String, String>,
    /// Assigned license SKU part numbers (office365).
    pub licenses: BTreeSet<String>,
    /// The app's location of the object (AD distinguished name), for messages.
    pub location: Option<String>,
}

impl ObservedUser {
    /// The value of a managed attribute, by roster name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
}

/// A live group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedGroup {
    pub id: String,
    /// displayName (office365), cn/sAMAccountName (AD), displayName (SCIM).
    pub name: String,
    pub description: Option<String>,
    /// "security" or "microsoft365".
    pub kind: String,
    /// Direct members: ids of users and groups.
    pub member_ids: BTreeSet<String>,
    pub location: Option<String>,
}

/// A license SKU with its seat accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedSku {
    pub sku_id: String,
    pub part_number: String,
    /// prepaidUnits.enabled
    pub enabled: u32,
    /// consumedUnits
    pub consumed: u32,
}

impl ObservedSku {
    pub fn free(&self) -> u32 {
        self.enabled.saturating_sub(self.consumed)
    }
}

impl ObservedApp {
    /// Find a user by login, case-insensitively.
    pub fn user_by_login(&self, login: &str) -> Option<&ObservedUser> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }
    pub fn group_by_name(&self, name: &str) -> Option<&ObservedGroup> {
        self.groups.iter().find(|g| g.name == name)
    }
}
