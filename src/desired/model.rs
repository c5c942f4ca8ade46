//! The desired-state model: the types that the identity repository's YAML files
//! deserialize into, and from which the JSON Schema in `schema/` is generated.
//!
//! These types are the contract between the loader (which fills them) and everything
//! downstream (planner, diff, connectors). They carry no source positions; the loader
//! keeps those in a [`crate::desired::SourceMap`] beside them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One YAML file of the identity repository. Every file may carry any of the five
/// top-level lists; the lists of all files are merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "roster identity repository file")]
pub struct RepoFile {
    /// Provisioning targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<App>,
    /// People.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
    /// Groups, with optional inline members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// Group memberships kept apart from the group definitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memberships: Vec<Membership>,
    /// Bindings of groups to apps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
}

/// The whole desired state: all files merged, plus where it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    pub apps: Vec<App>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub memberships: Vec<Membership>,
    pub policies: Vec<Policy>,
    pub source: SourceInfo,
}

/// Where a desired state was read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceInfo {
    /// The commit id, when the state was read from (or inside) a Git repository.
    pub commit: Option<String>,
    /// True when read from a working tree whose files differ from `commit`.
    pub dirty: bool,
}

/// A reference to a secret. Secrets are never written literally in the repository.
// Serialized as a one-key mapping (`{ env: NAME }` / `{ file: PATH }`) in every
// format; the serde impls are written out because serde_yaml would otherwise use
// YAML tags (`!env NAME`) for enum variants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// Read the secret from this environment variable.
    Env(String),
    /// Read the secret from this file (relative paths are relative to the repository root).
    File(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRefRepr {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<String>,
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self {
            SecretRef::Env(v) => m.serialize_entry("env", v)?,
            SecretRef::File(v) => m.serialize_entry("file", v)?,
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match SecretRefRepr::deserialize(d)? {
            SecretRefRepr {
                env: Some(v),
                file: None,
            } => Ok(SecretRef::Env(v)),
            SecretRefRepr {
                env: None,
                file: Some(v),
            } => Ok(SecretRef::File(v)),
            _ => Err(serde::de::Error::custom(
                "a secret reference has exactly one of `env`, `file`",
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsRepr {
    #[serde(default)]
    client_secret: Option<SecretRef>,
    #[serde(default)]
    certificate: Option<CertificateCredentials>,
    #[serde(default)]
    federated_token: Option<SecretRef>,
}

impl Serialize for Office365Credentials {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Office365Credentials::ClientSecret(v) => m.serialize_entry("client_secret", v)?,
            Office365Credentials::Certificate(v) => m.serialize_entry("certificate", v)?,
            Office365Credentials::FederatedToken(v) => m.serialize_entry("federated_token", v)?,
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Office365Credentials {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = CredentialsRepr::deserialize(d)?;
        match (r.client_secret, r.certificate, r.federated_token) {
            (Some(v), None, None) => Ok(Office365Credentials::ClientSecret(v)),
            (None, Some(v), None) => Ok(Office365Credentials::Certificate(v)),
            (None, None, Some(v)) => Ok(Office365Credentials::FederatedToken(v)),
            _ => Err(serde::de::Error::custom(
                "credentials have exactly one of `client_secret`, `certificate`, `federated_token`",
            )),
        }
    }
}

/// A provisioning target. The `type` key selects the variant; each type has its own keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum App {
    Office365(Office365App),
    ActiveDirectory(ActiveDirectoryApp),
    Scim(ScimApp),
    Ldap(LdapApp),
    GoogleWorkspace(GoogleWorkspaceApp),
}

/// The valid values of an app's `type` key.
pub const APP_TYPES: &[&str] = &[
    "office365",
    "active_directory",
    "scim",
    "ldap",
    "google_workspace",
];

/// Per-app provisioning switches. All default to true except `delete_users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Switches {
    pub create_users: bool,
    pub update_users: bool,
    pub delete_users: bool,
    pub password_sync: bool,
    pub enable_disable_users: bool,
    pub create_groups: bool,
    pub delete_groups: bool,
    pub sync_memberships: bool,
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            create_users: true,
            update_users: true,
            delete_users: false,
            password_sync: true,
            enable_disable_users: true,
            create_groups: true,
            delete_groups: true,
            sync_memberships: true,
        }
    }
}

/// TLS settings for a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// An extra CA certificate (PEM) to trust, relative to the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The name to verify the server certificate against, when it differs from the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// Office 365 credentials: exactly one of the three forms.
// A one-key mapping in every format (see `SecretRef` for why the impls are manual).
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Office365Credentials {
    /// OAuth2 client credentials with a client secret.
    ClientSecret(SecretRef),
    /// A certificate: a client assertion JWT signed with the private key.
    Certificate(CertificateCredentials),
    /// Workload identity federation: an OIDC token exchanged as a client assertion.
    FederatedToken(SecretRef),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateCredentials {
    /// PEM certificate file (its thumbprint goes into the assertion's x5t header).
    pub cert_file: String,
    /// PEM private key, as a secret reference.
    pub key_file: SecretRef,
}

/// A Microsoft 365 tenant, managed through Microsoft Graph v1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Office365App {
    /// Unique name of the app, referenced by policies.
    pub name: String,
    /// Tenant id or primary domain (e.g. contoso.onmicrosoft.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Office365Credentials>,
    /// Graph base URL (default https://graph.microsoft.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_url: Option<String>,
    /// Token endpoint base URL (default https://login.microsoftonline.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// A local sandbox tenant persisted at this path (relative to the repository root):
    /// the bundled Graph emulator runs in-process; no tenant, no credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// What a new sandbox tenant starts with: `empty` (default) or `realistic` (guests,
    /// admins, synced users, group licences and groups roster cannot manage; see
    /// docs/emulator.md, "The realistic tenant").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_seed: Option<SandboxSeed>,
    /// Only users with an email in these domains are provisioned. Default: the tenant's verified domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_domains: Option<Vec<String>>,
    #[serde(default)]
    pub switches: Switches,
    /// UPNs and group names (glob patterns allowed) that roster never touches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// The most user deletes + disables + group deletes one apply may carry out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deletes: Option<u32>,
    /// Manage guests (`userType: Guest`) too. Default: guests are outside the scope, so
    /// they are never disabled or deleted for not being in the repository.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manage_guests: bool,
    /// The app holds RoleManagement.ReadWrite.Directory, so role-assignable groups may be
    /// bound and their members managed. Default: binding one is a plan error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manage_role_assignable_groups: bool,
    /// Per-app attribute mapping: `TARGET: TEMPLATE`, TARGET the app's own attribute
    /// name (Graph property, LDAP attribute, SCIM path), TEMPLATE text with `{field}`
    /// placeholders and filters. Merged over the app type's default mapping; `null`
    /// takes a default target out of management. See docs/attribute-mapping.md.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribute_map: BTreeMap<String, Option<String>>,
    /// Mapped targets set when the object is created and never updated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_create: Vec<String>,
    /// Joiners: how early a user with a `start_date` is provisioned (docs/lifecycle.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joiner: Option<JoinerSettings>,
    /// Leavers: when access is removed and the account deleted after `end_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaver: Option<LeaverSettings>,
}

/// An app's `joiner` settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct JoinerSettings {
    /// Create the account this many days before the user's `start_date`, disabled
    /// until the start date. Default 0: created on the start date.
    pub provision_days_before_start: u32,
}

/// An app's `leaver` settings. From `end_date` on a user is disabled at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaverSettings {
    /// Group memberships and licences are removed this many days after `end_date`
    /// (default 0: on the end date).
    #[serde(default)]
    pub remove_access_after_days: u32,
    /// The account is deleted this many days after `end_date`, when the app's
    /// `delete_users` switch is on. Absent: never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_days: Option<u32>,
}

/// What a new sandbox tenant starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SandboxSeed {
    Empty,
    Realistic,
}

/// An Active Directory domain, managed over LDAP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveDirectoryApp {
    /// Unique name of the app, referenced by policies.
    pub name: String,
    /// ldap://host[:port] (StartTLS) or ldaps://host[:port].
    pub url: String,
    pub base_dn: String,
    /// The subtree holding the managed users.
    pub users_ou: String,
    /// The subtree holding the managed groups.
    pub groups_ou: String,
    pub bind_dn: String,
    pub bind_password: SecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// For `ldap://` URLs: upgrade the connection with StartTLS (default true). `false`
    /// sends everything in clear text; roster then refuses to set passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_domains: Option<Vec<String>>,
    #[serde(default)]
    pub switches: Switches,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deletes: Option<u32>,
    /// Per-app attribute mapping: `TARGET: TEMPLATE`, TARGET the app's own attribute
    /// name (Graph property, LDAP attribute, SCIM path), TEMPLATE text with `{field}`
    /// placeholders and filters. Merged over the app type's default mapping; `null`
    /// takes a default target out of management. See docs/attribute-mapping.md.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribute_map: BTreeMap<String, Option<String>>,
    /// Mapped targets set when the object is created and never updated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_create: Vec<String>,
    /// Joiners: how early a user with a `start_date` is provisioned (docs/lifecycle.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joiner: Option<JoinerSettings>,
    /// Leavers: when access is removed and the account deleted after `end_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaver: Option<LeaverSettings>,
}

/// Any LDAPv3 directory (OpenLDAP, 389 Directory Server, ...): users and groups under
/// two subtrees, with the schema choices below. See docs/ldap.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapApp {
    /// Unique name of the app, referenced by policies.
    pub name: String,
    /// ldap://host[:port] (StartTLS) or ldaps://host[:port].
    pub url: String,
    pub base_dn: String,
    /// The subtree holding the managed users.
    pub users_ou: String,
    /// The subtree holding the managed groups.
    pub groups_ou: String,
    pub bind_dn: String,
    pub bind_password: SecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// For `ldap://` URLs: upgrade the connection with StartTLS (default true). `false`
    /// is accepted only for a loopback address; roster then refuses to set passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_domains: Option<Vec<String>>,
    #[serde(default)]
    pub switches: Switches,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deletes: Option<u32>,
    /// Per-app attribute mapping (LDAP attribute names of `inetOrgPerson`); see
    /// docs/attribute-mapping.md.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribute_map: BTreeMap<String, Option<String>>,
    /// Mapped targets set when the object is created and never updated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_create: Vec<String>,
    /// The object classes of a new user. Default: `inetOrgPerson` and its superclasses
    /// (`top`, `person`, `organizationalPerson`), plus `posixAccount` with `posix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_object_classes: Vec<String>,
    /// The naming attribute of a user entry (default `uid`: `uid=LOGIN,<users_ou>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_rdn: Option<String>,
    /// The object class of groups (default `groupOfNames`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_object_class: Option<LdapGroupClass>,
    /// POSIX accounts: new users get `posixAccount` with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posix: Option<LdapPosix>,
    /// How a disabled account is represented. Default: the ppolicy overlay's
    /// `pwdAccountLockedTime: 000001010000Z` (locked by an administrator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<LdapDisabled>,
    /// Joiners: how early a user with a `start_date` is provisioned (docs/lifecycle.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joiner: Option<JoinerSettings>,
    /// Leavers: when access is removed and the account deleted after `end_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaver: Option<LeaverSettings>,
}

/// The object class of an ldap app's groups, and so its member attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LdapGroupClass {
    /// `member` (DNs); RFC 4519 requires at least one (see docs/ldap.md).
    GroupOfNames,
    /// `uniqueMember` (DNs, optional UID suffix).
    GroupOfUniqueNames,
    /// `memberUid` (logins; nested groups impossible), with a `gidNumber`.
    PosixGroup,
}

/// The `posix` settings of an ldap app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapPosix {
    /// The first `uidNumber` given out (the next is one above the highest in users_ou).
    pub uid_number_start: u32,
    /// The `gidNumber` of new users; new posixGroups get one above the highest in
    /// `groups_ou`, at least this plus one.
    pub gid_number: u32,
    /// The home directory template (default `/home/{username}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_shell: Option<String>,
}

/// A disabled account: `attribute` holds `value` (compared case-insensitively); an
/// enabled account does not hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapDisabled {
    pub attribute: String,
    pub value: String,
}

impl Default for LdapDisabled {
    fn default() -> Self {
        LdapDisabled {
            attribute: "pwdAccountLockedTime".into(),
            value: "000001010000Z".into(),
        }
    }
}

/// Any SCIM 2.0 service provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimApp {
    /// Unique name of the app, referenced by policies.
    pub name: String,
    /// The SCIM base URL.
    pub url: String,
    /// The bearer token.
    pub token: SecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_domains: Option<Vec<String>>,
    #[serde(default)]
    pub switches: Switches,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deletes: Option<u32>,
    /// Per-app attribute mapping: `TARGET: TEMPLATE`, TARGET the app's own attribute
    /// name (Graph property, LDAP attribute, SCIM path), TEMPLATE text with `{field}`
    /// placeholders and filters. Merged over the app type's default mapping; `null`
    /// takes a default target out of management. See docs/attribute-mapping.md.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribute_map: BTreeMap<String, Option<String>>,
    /// Mapped targets set when the object is created and never updated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_create: Vec<String>,
    /// Joiners: how early a user with a `start_date` is provisioned (docs/lifecycle.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joiner: Option<JoinerSettings>,
    /// Leavers: when access is removed and the account deleted after `end_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaver: Option<LeaverSettings>,
}

/// Google Workspace credentials: a service account with domain-wide delegation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleCredentials {
    /// The service account's JSON key (as Google Cloud exports it), as a secret reference.
    pub service_account_key: SecretRef,
}

/// A Google Workspace customer, managed through the Admin SDK Directory API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleWorkspaceApp {
    /// Unique name of the app, referenced by policies.
    pub name: String,
    /// The primary domain of the Workspace account (e.g. example.com).
    pub domain: String,
    /// The customer id (default `my_customer`, the account of the admin acted as).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<GoogleCredentials>,
    /// The admin (an email) the service account acts as through domain-wide delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Directory API base URL (default https://admin.googleapis.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// OAuth 2.0 token endpoint (default https://oauth2.googleapis.com/token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// A local sandbox account persisted at this path (relative to the repository
    /// root): the project's Google emulator runs in-process; no credentials, no subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// The management scope: users' `orgUnitPath` (e.g. `/Staff`); roster reads and
    /// creates users there only. Default: the whole customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_unit: Option<String>,
    /// Only users with an email in these domains are provisioned. Default: `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_domains: Option<Vec<String>>,
    #[serde(default)]
    pub switches: Switches,
    /// Primary emails and group names (glob patterns allowed) that roster never touches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// The most user deletes + disables + group deletes one apply may carry out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deletes: Option<u32>,
    /// Per-app attribute mapping: `TARGET: TEMPLATE`, TARGET a Directory API user
    /// field (`name.givenName`, `organizations.department`…). Merged over the type's
    /// default mapping; `null` takes a default target out of management. See
    /// docs/attribute-mapping.md and docs/google-workspace.md.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attribute_map: BTreeMap<String, Option<String>>,
    /// Mapped targets set when the object is created and never updated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_create: Vec<String>,
    /// Joiners: how early a user with a `start_date` is provisioned (docs/lifecycle.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joiner: Option<JoinerSettings>,
    /// Leavers: when access is removed and the account deleted after `end_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaver: Option<LeaverSettings>,
}

impl App {
    pub fn name(&self) -> &str {
        match self {
            App::Office365(a) => &a.name,
            App::ActiveDirectory(a) => &a.name,
            App::Scim(a) => &a.name,
            App::Ldap(a) => &a.name,
            App::GoogleWorkspace(a) => &a.name,
        }
    }
    pub fn type_name(&self) -> &'static str {
        match self {
            App::Office365(_) => "office365",
            App::ActiveDirectory(_) => "active_directory",
            App::Scim(_) => "scim",
            App::Ldap(_) => "ldap",
            App::GoogleWorkspace(_) => "google_workspace",
        }
    }
    /// The explicit authorized domains, if configured.
    pub fn authorized_domains(&self) -> Option<&[String]> {
        match self {
            App::Office365(a) => a.authorized_domains.as_deref(),
            App::ActiveDirectory(a) => a.authorized_domains.as_deref(),
            App::Scim(a) => a.authorized_domains.as_deref(),
            App::Ldap(a) => a.authorized_domains.as_deref(),
            App::GoogleWorkspace(a) => a.authorized_domains.as_deref(),
        }
    }
    pub fn switches(&self) -> &Switches {
        match self {
            App::Office365(a) => &a.switches,
            App::ActiveDirectory(a) => &a.switches,
            App::Scim(a) => &a.switches,
            App::Ldap(a) => &a.switches,
            App::GoogleWorkspace(a) => &a.switches,
        }
    }
    pub fn ignore(&self) -> &[String] {
        match self {
            App::Office365(a) => &a.ignore,
            App::ActiveDirectory(a) => &a.ignore,
            App::Scim(a) => &a.ignore,
            App::Ldap(a) => &a.ignore,
            App::GoogleWorkspace(a) => &a.ignore,
        }
    }
    /// The app's `attribute_map` (over the type's defaults; see [`crate::mapping`]).
    pub fn attribute_map(&self) -> &BTreeMap<String, Option<String>> {
        match self {
            App::Office365(a) => &a.attribute_map,
            App::ActiveDirectory(a) => &a.attribute_map,
            App::Scim(a) => &a.attribute_map,
            App::Ldap(a) => &a.attribute_map,
            App::GoogleWorkspace(a) => &a.attribute_map,
        }
    }
    /// The targets the app sets only at creation.
    pub fn on_create(&self) -> &[String] {
        match self {
            App::Office365(a) => &a.on_create,
            App::ActiveDirectory(a) => &a.on_create,
            App::Scim(a) => &a.on_create,
            App::Ldap(a) => &a.on_create,
            App::GoogleWorkspace(a) => &a.on_create,
        }
    }
    /// The app's `joiner` and `leaver` settings with the switches they depend on.
    pub fn lifecycle(&self) -> crate::desired::lifecycle::Settings {
        let (joiner, leaver) = match self {
            App::Office365(a) => (a.joiner, a.leaver),
            App::ActiveDirectory(a) => (a.joiner, a.leaver),
            App::Scim(a) => (a.joiner, a.leaver),
            App::Ldap(a) => (a.joiner, a.leaver),
            App::GoogleWorkspace(a) => (a.joiner, a.leaver),
        };
        crate::desired::lifecycle::Settings::new(joiner, leaver, self.switches())
    }
    pub fn max_deletes(&self) -> Option<u32> {
        match self {
            App::Office365(a) => a.max_deletes,
            App::ActiveDirectory(a) => a.max_deletes,
            App::Scim(a) => a.max_deletes,
            App::Ldap(a) => a.max_deletes,
            App::GoogleWorkspace(a) => a.max_deletes,
        }
    }
}

/// A person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Unique identifier of the person in the repository (sAMAccountName in AD).
    pub username: String,
    /// Primary email; also the userPrincipalName in Office 365 and AD.
    #[schemars(extend("format" = "email"))]
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Defaults to "first_name last_name".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    /// Two-letter country code; required by Office 365 before a license is assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    /// Office 365 SKU part numbers (e.g. ENTERPRISEPACK).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Initial password, as a secret reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Office 365 `onPremisesImmutableId` (the base64 of the on-premises objectGUID),
    /// sent when the user is created: required for users in a federated domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_id: Option<String>,
    /// Custom attributes, read by templates as `{attributes.NAME}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The username of this person's manager. Absent: the live manager is left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Usernames this person had before: the live account of a previous username is
    /// renamed, never re-created (like Terraform's `moved`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_usernames: Vec<String>,
    /// First working day (YYYY-MM-DD): before it the user is not provisioned (or, with an
    /// app's `joiner.provision_days_before_start`, provisioned disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date"))]
    pub start_date: Option<String>,
    /// Last day (YYYY-MM-DD): from it on the user is a leaver in every app (disabled,
    /// then access removed and deleted as each app's `leaver` settings say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date"))]
    pub end_date: Option<String>,
}

fn default_true() -> bool {
    true
}

impl User {
    /// The display name, defaulting to "first last".
    pub fn display_name(&self) -> String {
        match &self.display_name {
            Some(d) => d.clone(),
            None => format!("{} {}", self.first_name, self.last_name),
        }
    }
    /// The lower-cased domain part of the email.
    pub fn email_domain(&self) -> Option<String> {
        self.email
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
    }
}

/// The kind of group to create in Office 365. Active Directory always gets a global
/// security group.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    #[default]
    Security,
    /// A Microsoft 365 ("Unified") group.
    Microsoft365,
    /// A group of the repository only: it binds its members to apps through policies
    /// and is never created, changed or read in any app (for people who are in no
    /// group live, e.g. gathered by `import`).
    Repository,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Unique name of the group (its display name / cn in the apps).
    pub name: String,
    /// Shown in the apps as the group's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Usernames, and nested groups written as `group:NAME`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberName>,
    /// `security` (default) or `microsoft365` (a Microsoft 365 "Unified" group in Office 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<GroupKind>,
    /// `authoritative` (default): live members the repository does not list are
    /// removed. `additive`: roster adds the listed members and removes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipMode>,
}

/// Whether roster owns a group's whole member list or only adds to it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MembershipMode {
    #[default]
    Authoritative,
    Additive,
}

/// A member reference: a username or a nested group (`group:NAME`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberRef<'a> {
    User(&'a str),
    Group(&'a str),
}

/// Parse a member string (`alice` or `group:sales`).
pub fn parse_member(s: &str) -> MemberRef<'_> {
    match s.strip_prefix("group:") {
        Some(g) => MemberRef::Group(g),
        None => MemberRef::User(s),
    }
}

/// One element of a member list as written (`alice`, `group:sales`). A repository
/// of a million users holds tens of millions of these, so a short one (up to 22
/// bytes: nearly every username) is kept inside the list's own 24 bytes, without an
/// allocation of its own; a longer one is boxed. It reads as a `&str` (`Deref`,
/// `as_str`), compares, hashes and orders like one, and is written and read in every
/// format as a plain string.
pub type MemberName = crate::inline_str::InlineStr<22>;

/// Members of a group listed apart from the group definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// The group the members are added to.
    pub group: String,
    /// Usernames, and nested groups written as `group:NAME`.
    pub users: Vec<MemberName>,
    /// From this date (YYYY-MM-DD) on, the membership counts as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date"))]
    pub expires: Option<String>,
}

/// Binds groups to an app: their transitive members are provisioned there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unique name of the policy.
    pub name: String,
    /// The app the groups are bound to.
    pub app: String,
    /// The bound groups: their transitive members are provisioned to the app.
    pub groups: Vec<String>,
}

impl DesiredState {
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name() == name)
    }
    /// One user by username: a scan, for single lookups; code that looks up users per
    /// change or per object builds [`DesiredState::user_index`] once instead.
    pub fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }
    /// Repository users by username (the last of a duplicated name, which the loader
    /// refuses anyway), for lookups; never iterated.
    pub fn user_index(&self) -> UserIndex<'_> {
        self.users
            .iter()
            .map(|u| (u.username.as_str(), u))
            .collect()
    }
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// Repository users by username: see [`DesiredState::user_index`].
pub type UserIndex<'a> = std::collections::HashMap<&'a str, &'a User>;

/// Convenience index: group name → direct member strings from inline members and
/// membership entries that have not expired on `today` (YYYY-MM-DD, compared as text).
pub fn direct_members(state: &DesiredState, today: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for g in &state.groups {
        out.entry(g.name.clone())
            .or_default()
            .extend(g.members.iter().map(|m| m.to_string()));
    }
    for m in &state.memberships {
        if let Some(exp) = &m.expires
            && exp.as_str() <= today
        {
            continue;
        }
        out.entry(m.group.clone())
            .or_default()
            .extend(m.users.iter().map(|m| m.to_string()));
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}
