//! Directory roles: Microsoft's built-in role definitions, role assignments, the
//! application permissions an app holds, and the protection of role holders from an
//! app's sensitive writes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::Tenant;

/// A built-in Microsoft Entra role: template id (which is also the role definition's
/// id in every tenant), display name, description and Microsoft's "privileged" label.
pub struct BuiltInRole {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub privileged: bool,
}

/// The built-in roles the emulator knows, with the template ids, descriptions and
/// privileged labels of Microsoft's published list (MicrosoftDocs/entra-docs,
/// docs/identity/role-based-access-control/permissions-reference.md, "All roles").
pub const BUILT_IN_ROLES: &[BuiltInRole] = &[
    BuiltInRole {
        id: "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        name: "Application Administrator",
        description: "Can create and manage all aspects of app registrations and enterprise apps.",
        privileged: true,
    },
    BuiltInRole {
        id: "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        name: "Authentication Administrator",
        description: "Can access to view, set and reset authentication method information for any non-admin user.",
        privileged: true,
    },
    BuiltInRole {
        id: "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        name: "Billing Administrator",
        description: "Can perform common billing related tasks like updating payment information.",
        privileged: false,
    },
    BuiltInRole {
        id: "158c047a-c907-4556-b7ef-446551a6b5f7",
        name: "Cloud Application Administrator",
        description: "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.",
        privileged: true,
    },
    BuiltInRole {
        id: "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        name: "Conditional Access Administrator",
        description: "Can manage Conditional Access capabilities.",
        privileged: true,
    },
    BuiltInRole {
        id: "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
        name: "Directory Readers",
        description: "Can read basic directory information. Commonly used to grant directory read access to applications and guests.",
        privileged: false,
    },
    BuiltInRole {
        id: "9360feb5-f418-4baa-8175-e2a00bac4301",
        name: "Directory Writers",
        description: "Can read and write basic directory information. For granting access to applications, not intended for users.",
        privileged: true,
    },
    BuiltInRole {
        id: "29232cdf-9323-42fd-ade2-1d097af3e4de",
        name: "Exchange Administrator",
        description: "Can manage all aspects of the Exchange product.",
        privileged: false,
    },
    BuiltInRole {
        id: "62e90394-69f5-4237-9190-012177145e10",
        name: "Global Administrator",
        description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
        privileged: true,
    },
    BuiltInRole {
        id: "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        name: "Global Reader",
        description: "Can read everything that a Global Administrator can, but not update anything.",
        privileged: true,
    },
    BuiltInRole {
        id: "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        name: "Groups Administrator",
        description: "Members of this role can create/manage groups, create/manage groups settings like naming and expiration policies, and view groups activity and audit reports.",
        privileged: false,
    },
    BuiltInRole {
        id: "95e79109-95c0-4d8e-aee3-d01accf2d47b",
        name: "Guest Inviter",
        description: "Can invite guest users independent of the 'members can invite guests' setting.",
        privileged: false,
    },
    BuiltInRole {
        id: "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        name: "Helpdesk Administrator",
        description: "Can reset passwords for non-administrators and Helpdesk Administrators.",
        privileged: true,
    },
    BuiltInRole {
        id: "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
        name: "Hybrid Identity Administrator",
        description: "Manage Active Directory to Microsoft Entra cloud provisioning, Microsoft Entra Connect, pass-through authentication (PTA), password hash synchronization (PHS), seamless single sign-on (seamless SSO), and federation settings. Does not have access to manage Microsoft Entra Connect Health.",
        privileged: true,
    },
    BuiltInRole {
        id: "3a2c62db-5318-420d-8d74-23affee5d9d5",
        name: "Intune Administrator",
        description: "Can manage all aspects of the Intune product.",
        privileged: true,
    },
    BuiltInRole {
        id: "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        name: "License Administrator",
        description: "Can manage product licenses on users and groups.",
        privileged: false,
    },
    BuiltInRole {
        id: "790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b",
        name: "Message Center Reader",
        description: "Can read messages and updates for their organization in Office 365 Message Center only.",
        privileged: false,
    },
    BuiltInRole {
        id: "966707d0-3269-4727-9be2-8c3a10f19b9d",
        name: "Password Administrator",
        description: "Can reset passwords for non-administrators and Password Administrators.",
        privileged: true,
    },
    BuiltInRole {
        id: "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        name: "Privileged Authentication Administrator",
        description: "Can access to view, set and reset authentication method information for any user (admin or non-admin).",
        privileged: true,
    },
    BuiltInRole {
        id: "e8611ab8-c189-46e8-94e1-60213ab1f814",
        name: "Privileged Role Administrator",
        description: "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
        privileged: true,
    },
    BuiltInRole {
        id: "4a5d8f65-41da-4de4-8968-e035b65339cf",
        name: "Reports Reader",
        description: "Can read sign-in and audit reports.",
        privileged: false,
    },
    BuiltInRole {
        id: "194ae4cb-b126-40b2-bd5b-6091b380977d",
        name: "Security Administrator",
        description: "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.",
        privileged: true,
    },
    BuiltInRole {
        id: "5d6b6bb7-de71-4623-b4af-96380a352509",
        name: "Security Reader",
        description: "Can read security information and reports in Microsoft Entra ID and Office 365.",
        privileged: true,
    },
    BuiltInRole {
        id: "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        name: "SharePoint Administrator",
        description: "Can manage all aspects of the SharePoint service.",
        privileged: false,
    },
    BuiltInRole {
        id: "69091246-20e8-4a56-aa4d-066075b2a7a8",
        name: "Teams Administrator",
        description: "Can manage the Microsoft Teams service.",
        privileged: false,
    },
    BuiltInRole {
        id: "75934031-6c7e-415a-99d7-48dbd49e875e",
        name: "Usage Summary Reports Reader",
        description: "Read Usage reports and Adoption Score, but can't access user details.",
        privileged: false,
    },
    BuiltInRole {
        id: "fe930be7-5e62-47db-91af-98c3a49a38b1",
        name: "User Administrator",
        description: "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
        privileged: true,
    },
];

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
pub const HELPDESK_ADMINISTRATOR: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

/// Roles whose holders every administrator able to perform sensitive actions may act
/// on: the rows of resources/users.md "Who can perform sensitive actions" where the
/// Authentication Administrator, User Administrator, Privileged Authentication
/// Administrator and Global Administrator columns are all ticked. A user holding any
/// other role — or a member of a role-assignable group ("User (no admin role, but
/// member or owner of a role-assignable group)": Privileged Authentication and Global
/// Administrators only) — is protected.
pub const UNPROTECTED_ROLES: &[&str] = &[
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b", // Directory Readers
    "95e79109-95c0-4d8e-aee3-d01accf2d47b", // Guest Inviter
    "790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b", // Message Center Reader
    "966707d0-3269-4727-9be2-8c3a10f19b9d", // Password Administrator
    "4a5d8f65-41da-4de4-8968-e035b65339cf", // Reports Reader
    "75934031-6c7e-415a-99d7-48dbd49e875e", // Usage Summary Reports Reader
];

/// The user properties whose writes are sensitive actions (resources/users.md,
/// "Sensitive actions"); deletes and restores are sensitive too.
pub const SENSITIVE_USER_PROPS: &[&str] = &[
    "accountEnabled",
    "businessPhones",
    "mobilePhone",
    "onPremisesImmutableId",
    "otherMails",
    "passwordProfile",
    "userPrincipalName",
];

/// The application permission that lets an app perform sensitive actions on role
/// holders and write the members of role-assignable groups. Graph documents the latter
/// (api/group-post-members.md: "To add members to a role-assignable group, the calling
/// user must also be assigned the RoleManagement.ReadWrite.Directory permission");
/// for the former Graph requires the caller to hold the Privileged Authentication
/// Administrator or Global Administrator role, which an app granted this permission can
/// assign itself (api/rbacapplication-post-roleassignments.md requires exactly it), so
/// the emulator lets the permission stand for that role.
pub const ROLE_MANAGEMENT_WRITE: &str = "RoleManagement.ReadWrite.Directory";

/// The application permissions an app gets when the configuration grants it none:
/// what the emulator has always put in its tokens' `roles`.
pub const DEFAULT_GRANTS: &[&str] = &[
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];

/// The application permissions `grants` give app `client` (client `*` = every app),
/// [`DEFAULT_GRANTS`] when none names it.
pub fn grants_for(grants: &[(String, String)], client: &str) -> Vec<String> {
    let mut out: Vec<String> = grants
        .iter()
        .filter(|(c, _)| c == "*" || c.eq_ignore_ascii_case(client))
        .map(|(_, p)| p.clone())
        .collect();
    if out.is_empty() {
        out = DEFAULT_GRANTS.iter().map(|s| s.to_string()).collect();
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `roles` (a token's application permissions) include one of `wanted`.
pub fn has_any(roles: &[String], wanted: &[&str]) -> bool {
    roles
        .iter()
        .any(|r| wanted.iter().any(|w| r.eq_ignore_ascii_case(w)))
}

pub fn role(id: &str) -> Option<&'static BuiltInRole> {
    BUILT_IN_ROLES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
}

pub fn role_by_name(name: &str) -> Option<&'static BuiltInRole> {
    BUILT_IN_ROLES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
}

/// A role definition as v1.0 returns it (resources/unifiedroledefinition.md). The
/// emulator does not model the roles' permissions: `rolePermissions` is empty.
/// `isPrivileged` exists only in beta (api-reference/beta/resources/
/// unifiedroledefinition.md; Microsoft's v1.0 CSDL has no such property), so it is
/// added for `/beta` only.
pub fn definition_json(r: &BuiltInRole, beta: bool) -> Value {
    let mut v = json!({
        "id": r.id,
        "description": r.description,
        "displayName": r.name,
        "isBuiltIn": true,
        "isEnabled": true,
        "resourceScopes": ["/"],
        "templateId": r.id,
        "version": "1",
        "rolePermissions": [],
    });
    if beta && let Value::Object(m) = &mut v {
        m.insert("isPrivileged".into(), json!(r.privileged));
    }
    v
}

/// A directory role assignment (resources/unifiedroleassignment.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub id: String,
    pub principal_id: Uuid,
    pub role_definition_id: String,
    pub directory_scope_id: String,
}

/// The id Graph gives a tenant-scoped assignment: the role definition's and the
/// principal's GUID bytes (in .NET's little-endian layout), base64url, and `-1` — as
/// the ids in api/rbacapplication-list-roleassignments.md decode.
pub fn assignment_id(role_definition: &str, principal: Uuid) -> String {
    use base64::Engine;
    let role = Uuid::parse_str(role_definition).unwrap_or_default();
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(&role.to_bytes_le());
    bytes.extend_from_slice(&principal.to_bytes_le());
    format!(
        "{}-1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn assignment_json(a: &RoleAssignment) -> Value {
    json!({
        "id": a.id,
        "directoryScopeId": a.directory_scope_id,
        "principalId": a.principal_id.to_string(),
        "roleDefinitionId": a.role_definition_id,
    })
}

impl Tenant {
    /// The role definition ids user `uid` holds: assigned to it, or to a
    /// role-assignable group it is a direct member of.
    pub fn roles_of(&self, uid: Uuid) -> Vec<String> {
        let groups: Vec<Uuid> = self
            .role_groups
            .iter()
            .filter_map(|gid| self.groups.get(gid))
            .filter(|g| g.members.contains(&uid))
            .map(|g| g.id)
            .collect();
        let mut out: Vec<String> = self
            .role_assignments
            .values()
            .filter(|a| a.principal_id == uid || groups.contains(&a.principal_id))
            .map(|a| a.role_definition_id.to_ascii_lowercase())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether an app without [`ROLE_MANAGEMENT_WRITE`] is refused sensitive actions on
    /// user `uid` (see [`UNPROTECTED_ROLES`]).
    pub fn is_protected(&self, uid: Uuid) -> bool {
        let in_role_group = self.groups.values().any(|g| {
            g.is_role_assignable() && (g.members.contains(&uid) || g.owners.contains(&uid))
        });
        in_role_group
            || self
                .roles_of(uid)
                .iter()
                .any(|r| !UNPROTECTED_ROLES.contains(&r.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_ids_decode_like_graphs() {
        // api/rbacapplication-list-roleassignments.md, example 1.
        let principal = Uuid::parse_str("ace08ec9-aa11-4ada-9145-addf0398233e").expect("uuid");
        assert_eq!(
            assignment_id(GLOBAL_ADMINISTRATOR, principal),
            "lAPpYvVpN0KRkAEhdxReEMmO4KwRqtpKkUWt3wOYIz4-1"
        );
    }

    #[test]
    fn catalogue_ids_are_unique_guids() {
        let mut ids: Vec<&str> = BUILT_IN_ROLES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), BUILT_IN_ROLES.len());
        assert!(ids.iter().all(|i| Uuid::parse_str(i).is_ok()));
        assert!(role_by_name("global administrator").is_some_and(|r| r.privileged));
        assert!(UNPROTECTED_ROLES.iter().all(|r| role(r).is_some()));
    }
}
