//! The attributes each app type can map, as the app names them: Graph's user
//! properties (as Microsoft's CSDL spells them; `tests/it/mapping_targets.rs` checks
//! every name against it), LDAP attribute names of the AD `user` class, and SCIM paths
//! of RFC 7643's User schema and its enterprise extension. Each carries what roster
//! must know to manage it: whether it may be cleared, its kind and its length limit.

/// What a target's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    /// An Edm.DateTimeOffset (office365): a date `YYYY-MM-DD` is written and compared as
    /// `YYYY-MM-DDT00:00:00Z`, Graph's form.
    DateTime,
}

/// One attribute an app of some type can map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The app's own name: `companyName`, `physicalDeliveryOfficeName`, `name.givenName`.
    pub name: &'static str,
    /// False where the app refuses an empty value (then an empty template result leaves
    /// the live value, with a warning).
    pub nullable: bool,
    pub kind: ValueKind,
    /// The longest value the app accepts, in characters, where documented.
    pub max_len: Option<usize>,
}

const fn t(name: &'static str, max_len: usize) -> Target {
    Target {
        name,
        nullable: true,
        kind: ValueKind::Text,
        max_len: if max_len == 0 { None } else { Some(max_len) },
    }
}

const fn required(name: &'static str, max_len: usize) -> Target {
    Target {
        nullable: false,
        ..t(name, max_len)
    }
}

const fn date(name: &'static str) -> Target {
    Target {
        kind: ValueKind::DateTime,
        ..t(name, 0)
    }
}

/// A default mapping entry: target, the roster field whose name the plan and the
/// observed state use for it, and the template (a field name).
pub type DefaultEntry = (&'static str, &'static str);

/// office365: Graph user properties a Graph application with User.ReadWrite.All may write
/// (resources/user.md); lengths as documented there.
pub const OFFICE365: &[Target] = &[
    required("userPrincipalName", 113),
    required("displayName", 256),
    required("mailNickname", 64),
    t("mail", 0),
    t("givenName", 64),
    t("surname", 64),
    t("department", 64),
    t("jobTitle", 128),
    t("employeeId", 16),
    t("employeeType", 0),
    t("companyName", 64),
    t("officeLocation", 0),
    t("streetAddress", 1024),
    t("city", 128),
    t("state", 128),
    t("postalCode", 40),
    t("country", 128),
    t("usageLocation", 2),
    t("mobilePhone", 64),
    t("faxNumber", 0),
    t("preferredLanguage", 0),
    date("employeeHireDate"),
    date("employeeLeaveDateTime"),
    t("employeeOrgData.costCenter", 0),
    t("employeeOrgData.division", 0),
    t("onPremisesExtensionAttributes.extensionAttribute1", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute2", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute3", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute4", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute5", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute6", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute7", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute8", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute9", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute10", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute11", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute12", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute13", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute14", 1024),
    t("onPremisesExtensionAttributes.extensionAttribute15", 1024),
];

/// office365 defaults: today's fixed mapping.
pub const OFFICE365_DEFAULTS: &[DefaultEntry] = &[
    ("mail", "email"),
    ("givenName", "first_name"),
    ("surname", "last_name"),
    ("displayName", "display_name"),
    ("department", "department"),
    ("jobTitle", "job_title"),
    ("employeeId", "employee_id"),
    ("usageLocation", "usage_location"),
    ("mobilePhone", "mobile_phone"),
];

/// active_directory: single-valued string attributes of the `user` class (MS-ADA1..3;
/// `rangeUpper` as the lengths).
pub const ACTIVE_DIRECTORY: &[Target] = &[
    required("sAMAccountName", 20),
    required("cn", 64),
    t("userPrincipalName", 1024),
    t("mail", 256),
    t("givenName", 64),
    t("sn", 64),
    t("initials", 6),
    t("middleName", 64),
    t("displayName", 256),
    t("description", 1024),
    t("department", 64),
    t("title", 128),
    t("company", 64),
    t("division", 256),
    t("employeeID", 16),
    t("employeeNumber", 512),
    t("employeeType", 256),
    t("physicalDeliveryOfficeName", 128),
    t("streetAddress", 1024),
    t("l", 128),
    t("st", 128),
    t("postalCode", 40),
    t("c", 3),
    t("co", 128),
    t("telephoneNumber", 64),
    t("mobile", 64),
    t("homePhone", 64),
    t("ipPhone", 64),
    t("pager", 64),
    t("facsimileTelephoneNumber", 64),
    t("info", 1024),
    t("wWWHomePage", 2048),
    t("homeDirectory", 260),
    t("homeDrive", 3),
    t("scriptPath", 260),
    t("profilePath", 260),
];

pub const ACTIVE_DIRECTORY_DEFAULTS: &[DefaultEntry] = &[
    ("mail", "email"),
    ("givenName", "first_name"),
    ("sn", "last_name"),
    ("displayName", "display_name"),
    ("department", "department"),
    ("title", "job_title"),
    ("employeeID", "employee_id"),
];

/// ldap: single-valued-in-practice string attributes of `inetOrgPerson` (RFC 2798) and
/// its superclasses `person` and `organizationalPerson` (RFC 4519), and of
/// `posixAccount` (RFC 2307) for apps with `posix`. No length limits: the schemas
/// document none that servers enforce.
pub const LDAP: &[Target] = &[
    required("uid", 0),
    required("cn", 0),
    required("sn", 0),
    t("mail", 0),
    t("givenName", 0),
    t("displayName", 0),
    t("initials", 0),
    t("title", 0),
    t("description", 0),
    t("departmentNumber", 0),
    t("ou", 0),
    t("o", 0),
    t("businessCategory", 0),
    t("employeeNumber", 0),
    t("employeeType", 0),
    t("preferredLanguage", 0),
    t("physicalDeliveryOfficeName", 0),
    t("roomNumber", 0),
    t("street", 0),
    t("l", 0),
    t("st", 0),
    t("postalCode", 0),
    t("postalAddress", 0),
    t("postOfficeBox", 0),
    t("telephoneNumber", 0),
    t("mobile", 0),
    t("homePhone", 0),
    t("pager", 0),
    t("facsimileTelephoneNumber", 0),
    t("carLicense", 0),
    t("labeledURI", 0),
    t("homePostalAddress", 0),
    t("loginShell", 0),
    t("homeDirectory", 0),
    t("gecos", 0),
];

pub const LDAP_DEFAULTS: &[DefaultEntry] = &[
    ("mail", "email"),
    ("givenName", "first_name"),
    ("sn", "last_name"),
    ("displayName", "display_name"),
    ("departmentNumber", "department"),
    ("title", "job_title"),
    ("employeeNumber", "employee_id"),
];

/// The SCIM enterprise User extension's schema URN (RFC 7643 §4.3).
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// scim: RFC 7643 §4.1 User attributes (multi-valued ones by their `work`/`mobile`
/// value) and the enterprise extension (§4.3) by full path.
pub const SCIM: &[Target] = &[
    required("userName", 0),
    t("displayName", 0),
    t("nickName", 0),
    t("title", 0),
    t("userType", 0),
    t("preferredLanguage", 0),
    t("locale", 0),
    t("timezone", 0),
    t("profileUrl", 0),
    t("name.givenName", 0),
    t("name.familyName", 0),
    t("name.middleName", 0),
    t("name.honorificPrefix", 0),
    t("name.honorificSuffix", 0),
    t("name.formatted", 0),
    t("emails[type eq \"work\"].value", 0),
    t("phoneNumbers[type eq \"work\"].value", 0),
    t("phoneNumbers[type eq \"mobile\"].value", 0),
    t("addresses[type eq \"work\"].streetAddress", 0),
    t("addresses[type eq \"work\"].locality", 0),
    t("addresses[type eq \"work\"].region", 0),
    t("addresses[type eq \"work\"].postalCode", 0),
    t("addresses[type eq \"work\"].country", 0),
    t(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        0,
    ),
    t(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        0,
    ),
    t(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
        0,
    ),
    t(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
        0,
    ),
    t(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        0,
    ),
];

pub const SCIM_DEFAULTS: &[DefaultEntry] = &[
    ("emails[type eq \"work\"].value", "email"),
    ("name.givenName", "first_name"),
    ("name.familyName", "last_name"),
    ("displayName", "display_name"),
];

/// google_workspace: Directory API User fields (admin-sdk directory reference,
/// `users` resource): `name` members (at most 60 characters each), the primary
/// organization's members, typed `phones` / `externalIds` entries, recovery contacts.
pub const GOOGLE_WORKSPACE: &[Target] = &[
    required("primaryEmail", 0),
    required("name.givenName", 60),
    required("name.familyName", 60),
    t("organizations.title", 0),
    t("organizations.department", 0),
    t("organizations.costCenter", 0),
    t("organizations.description", 0),
    t("organizations.location", 0),
    t("externalIds[type eq \"organization\"].value", 0),
    t("phones[type eq \"work\"].value", 0),
    t("phones[type eq \"mobile\"].value", 0),
    t("recoveryEmail", 0),
    t("recoveryPhone", 0),
];

pub const GOOGLE_WORKSPACE_DEFAULTS: &[DefaultEntry] = &[
    ("name.givenName", "first_name"),
    ("name.familyName", "last_name"),
    ("organizations.department", "department"),
    ("organizations.title", "job_title"),
    ("externalIds[type eq \"organization\"].value", "employee_id"),
    ("phones[type eq \"mobile\"].value", "mobile_phone"),
];

/// The targets of an app type (`office365`, `active_directory`, `scim`, `ldap`,
/// `google_workspace`).
pub fn targets(app_type: &str) -> &'static [Target] {
    match app_type {
        "office365" => OFFICE365,
        "active_directory" => ACTIVE_DIRECTORY,
        "ldap" => LDAP,
        "google_workspace" => GOOGLE_WORKSPACE,
        _ => SCIM,
    }
}

/// The default mapping of an app type (the login aside).
pub fn defaults(app_type: &str) -> &'static [DefaultEntry] {
    match app_type {
        "office365" => OFFICE365_DEFAULTS,
        "active_directory" => ACTIVE_DIRECTORY_DEFAULTS,
        "ldap" => LDAP_DEFAULTS,
        "google_workspace" => GOOGLE_WORKSPACE_DEFAULTS,
        _ => SCIM_DEFAULTS,
    }
}

/// The target that is an app type's login (how live users are matched) and its default
/// template's field: office365 `userPrincipalName` ← email, active_directory
/// `sAMAccountName` ← username, scim `userName` ← username.
pub fn login(app_type: &str) -> (&'static str, &'static str) {
    match app_type {
        "office365" => ("userPrincipalName", "email"),
        "active_directory" => ("sAMAccountName", "username"),
        "ldap" => ("uid", "username"),
        "google_workspace" => ("primaryEmail", "email"),
        _ => ("userName", "username"),
    }
}

/// A target by name, case-sensitively (Graph and SCIM names are case-sensitive in
/// roster's files; LDAP's are not, but one spelling keeps plans stable), or the
/// closest names for a suggestion.
pub fn find(app_type: &str, name: &str) -> Option<&'static Target> {
    targets(app_type).iter().find(|t| t.name == name)
}
