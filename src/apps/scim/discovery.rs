//! Discovery of what a SCIM service provider supports (RFC 7644 §4):
//! `/ServiceProviderConfig` (PATCH, filter and its `maxResults`, bulk, ETags),
//! `/ResourceTypes` (the User and Group endpoints, the User's schema extensions) and `/Schemas` (whether Group has a
//! `description`). The connector uses an optional feature only when it is announced.

use anyhow::{Context, Result};
use serde_json::Value;

use super::http::Client;

/// The User and Group core schema URNs.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Page size used when the provider announces no `maxResults`.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// What the provider announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    pub filter: bool,
    /// `filter.maxResults`: the most resources one response returns.
    pub max_results: Option<usize>,
    pub bulk: bool,
    pub bulk_max_operations: Option<usize>,
    pub bulk_max_payload: Option<usize>,
    pub etag: bool,
    /// The Users endpoint, relative to the base URL (`/Users` by default).
    pub users_endpoint: String,
    /// The Groups endpoint, relative to the base URL (`/Groups` by default).
    pub groups_endpoint: String,
    /// Whether the Group schema has a `description` attribute (the core one has not).
    pub group_description: bool,
    /// The schema extensions of the User resource type (`schemaExtensions`), when
    /// `/ResourceTypes` lists it; `None` when the provider does not say.
    pub user_extensions: Option<Vec<String>>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            patch: false,
            filter: false,
            max_results: None,
            bulk: false,
            bulk_max_operations: None,
            bulk_max_payload: None,
            etag: false,
            users_endpoint: "/Users".into(),
            groups_endpoint: "/Groups".into(),
            group_description: false,
            user_extensions: None,
        }
    }
}

impl Capabilities {
    /// The page size of list requests: `maxResults` when announced, never above it.
    pub fn page_size(&self) -> usize {
        match self.max_results {
            Some(m) if m > 0 => m.min(1000),
            _ => DEFAULT_PAGE_SIZE,
        }
    }

    /// Reads the three discovery endpoints. The service provider configuration is
    /// required; resource types and schemas are optional refinements (a provider that
    /// does not serve them gets the RFC defaults).
    pub async fn discover(client: &Client) -> Result<Capabilities> {
        let spc = client
            .get("/ServiceProviderConfig", &[])
            .await
            .context("cannot read /ServiceProviderConfig")?;
        let mut caps = Capabilities::from_service_provider_config(&spc.body);
        match client.get("/ResourceTypes", &[]).await {
            Ok(r) => caps.apply_resource_types(&r.body),
            Err(e) => tracing::debug!(error = %e, "no /ResourceTypes; using /Users and /Groups"),
        }
        match client.get("/Schemas", &[]).await {
            Ok(r) => caps.apply_schemas(&r.body),
            Err(e) => tracing::debug!(error = %e, "no /Schemas; assuming the core schemas"),
        }
        Ok(caps)
    }

    /// The capabilities announced by a `ServiceProviderConfig` resource.
    pub fn from_service_provider_config(v: &Value) -> Capabilities {
        let supported = |k: &str| {
            v.get(k)
                .and_then(|f| f.get("supported"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let number = |k: &str, n: &str| {
            v.get(k)
                .and_then(|f| f.get(n))
                .and_then(Value::as_u64)
                .map(|n| n as usize)
        };
        Capabilities {
            patch: supported("patch"),
            filter: supported("filter"),
            max_results: number("filter", "maxResults").filter(|&n| n > 0),
            bulk: supported("bulk"),
            bulk_max_operations: number("bulk", "maxOperations"),
            bulk_max_payload: number("bulk", "maxPayloadSize"),
            etag: supported("etag"),
            ..Capabilities::default()
        }
    }

    /// Takes the User and Group endpoints from a `/ResourceTypes` list response.
    pub fn apply_resource_types(&mut self, v: &Value) {
        for rt in resources(v) {
            let schema = rt.get("schema").and_then(Value::as_str).unwrap_or("");
            let Some(endpoint) = rt.get("endpoint").and_then(Value::as_str) else {
                continue;
            };
            let endpoint = normalize_endpoint(endpoint);
            if endpoint.is_empty() {
                continue;
            }
            if schema == USER_SCHEMA {
                self.users_endpoint = endpoint;
                self.user_extensions = Some(
                    rt.get("schemaExtensions")
                        .and_then(Value::as_array)
                        .map(|exts| {
                            exts.iter()
                                .filter_map(|e| e.get("schema").and_then(Value::as_str))
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect()
                        })
                        .unwrap_or_default(),
                );
            } else if schema == GROUP_SCHEMA {
                self.groups_endpoint = endpoint;
            }
        }
    }

    /// Whether User resources may carry the schema extension `urn`: announced in
    /// `/ResourceTypes`, or not ruled out because the provider lists no resource types.
    pub fn user_extension(&self, urn: &str) -> bool {
        self.user_extensions
            .as_ref()
            .is_none_or(|l| l.iter().any(|u| u.eq_ignore_ascii_case(urn)))
    }

    /// Learns from a `/Schemas` list response whether Group has `description`.
    pub fn apply_schemas(&mut self, v: &Value) {
        for s in resources(v) {
            if s.get("id").and_then(Value::as_str) != Some(GROUP_SCHEMA) {
                continue;
            }
            self.group_description =
                s.get("attributes")
                    .and_then(Value::as_array)
                    .is_some_and(|attrs| {
                        attrs.iter().any(|a| {
                            a.get("name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.eq_ignore_ascii_case("description"))
                        })
                    });
        }
    }
}

/// The resources of a list response, or a bare array.
fn resources(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        _ => v
            .get("Resources")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
    }
}

/// `Users`, `/Users`, `/Users/` → `/Users`; absolute URLs keep only their path's last
/// segment (endpoints are relative to the base URL, RFC 7643 §6).
fn normalize_endpoint(e: &str) -> String {
    let e = e.trim().trim_end_matches('/');
    let last = e.rsplit('/').next().unwrap_or("");
    if last.is_empty() || last.contains(['?', '#']) {
        return String::new();
    }
    format!("/{last}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn features_are_used_only_when_announced() {
        let caps = Capabilities::from_service_provider_config(&json!({
            "patch": {"supported": false},
            "filter": {"supported": true, "maxResults": 50},
            "bulk": {"supported": true, "maxOperations": 10, "maxPayloadSize": 1000},
            "etag": {"supported": true}
        }));
        assert!(!caps.patch);
        assert!(caps.filter);
        assert_eq!(caps.page_size(), 50);
        assert!(caps.bulk);
        assert_eq!(caps.bulk_max_operations, Some(10));
        assert!(caps.etag);
        let none = Capabilities::from_service_provider_config(&json!({"patch": "yes"}));
        assert!(!none.patch && !none.filter && !none.etag && !none.bulk);
        assert_eq!(none.page_size(), DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn endpoints_and_group_description_come_from_discovery() {
        let mut caps = Capabilities::default();
        let enterprise = crate::mapping::targets::ENTERPRISE;
        assert!(caps.user_extension(enterprise), "unknown is not ruled out");
        caps.apply_resource_types(&json!({"Resources": [
            {"schema": USER_SCHEMA, "endpoint": "/Accounts/",
             "schemaExtensions": [{"schema": enterprise, "required": false}]},
            {"schema": GROUP_SCHEMA, "endpoint": "Teams"},
            {"schema": "urn:x", "endpoint": "/Other"}
        ]}));
        assert_eq!(caps.users_endpoint, "/Accounts");
        assert_eq!(caps.groups_endpoint, "/Teams");
        assert!(caps.user_extension(enterprise));
        assert!(!caps.user_extension("urn:example:other"));
        let mut plain = Capabilities::default();
        plain.apply_resource_types(&json!([{"schema": USER_SCHEMA, "endpoint": "/Users"}]));
        assert!(
            !plain.user_extension(enterprise),
            "a User type without extensions"
        );
        caps.apply_schemas(&json!({"Resources": [
            {"id": GROUP_SCHEMA, "attributes": [{"name": "displayName"}, {"name": "description"}]}
        ]}));
        assert!(caps.group_description);
        caps.apply_schemas(
            &json!({"Resources": [{"id": GROUP_SCHEMA, "attributes": [{"name": "displayName"}]}]}),
        );
        assert!(!caps.group_description);
    }
}
