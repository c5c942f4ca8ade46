//! Attribute mapping: which attributes of an app roster manages for a user, and the
//! value of each, from the app's `attribute_map` over its type's defaults.
//!
//! Pure: the planner, the connectors (which attributes to read and how to write a
//! change's keys), `validate` and the docs all take the mapping from [`Mapping::of`].
//!
//! A mapped attribute has a *key*, the name the observed state and the plan use for it:
//! a default target keeps roster's field name (`mail` is `email`, `givenName` is
//! `first_name`), so plans of repositories without `attribute_map` are unchanged; any
//! other target is named by itself (`companyName`, `l`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`).

pub mod targets;
pub mod template;

use crate::desired::{App, User};
pub use targets::ValueKind;
pub use template::{Template, TemplateError};

/// One managed attribute of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedField {
    /// The app's attribute name.
    pub target: String,
    /// The name in observed state and plans (see the module docs).
    pub key: String,
    pub template: Template,
    /// Set at creation only (`on_create`), never updated.
    pub on_create: bool,
    pub nullable: bool,
    pub kind: ValueKind,
}

/// An app's attribute mapping, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The login attribute (how live users are matched) and its template.
    pub login_target: &'static str,
    pub login: Template,
    /// Managed attributes but the login: defaults in their fixed order, then the
    /// app's other targets by name.
    pub fields: Vec<MappedField>,
}

/// A problem with an app's mapping, naming the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub target: String,
    pub message: String,
}

impl Mapping {
    /// The mapping of `app`; errors list every bad entry (the loader reports them with
    /// positions first, so a validated repository never fails here).
    pub fn of(app: &App) -> Result<Mapping, Vec<MappingError>> {
        let ty = app.type_name();
        let map = app.attribute_map();
        let mut errors = Vec::new();
        let parse = |errors: &mut Vec<MappingError>, target: &str, text: &str| match Template::parse(
            text,
        ) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(MappingError {
                    target: target.to_string(),
                    message: e.to_string(),
                });
                None
            }
        };
        let (login_target, login_field) = targets::login(ty);
        let login = match map.get(login_target) {
            Some(Some(text)) => parse(&mut errors, login_target, text)
                .unwrap_or_else(|| Template::field(login_field)),
            _ => Template::field(login_field),
        };
        let on_create = |target: &str| app.on_create().iter().any(|t| t == target);
        let mut fields = Vec::new();
        for (target, key) in targets::defaults(ty) {
            let template = match map.get(*target) {
                Some(None) => continue,
                Some(Some(text)) => match parse(&mut errors, target, text) {
                    Some(t) => t,
                    None => continue,
                },
                None => Template::field(key),
            };
            let spec = targets::find(ty, target);
            fields.push(MappedField {
                target: (*target).to_string(),
                key: (*key).to_string(),
                template,
                on_create: on_create(target),
                nullable: spec.is_none_or(|s| s.nullable),
                kind: spec.map_or(ValueKind::Text, |s| s.kind),
            });
        }
        for (target, text) in map {
            let Some(text) = text else { continue };
            if target == login_target || targets::defaults(ty).iter().any(|(t, _)| t == target) {
                continue;
            }
            let Some(spec) = targets::find(ty, target) else {
                errors.push(MappingError {
                    target: target.clone(),
                    message: format!("`{target}` is not an attribute roster can map on {ty} apps"),
                });
                continue;
            };
            let Some(template) = parse(&mut errors, target, text) else {
                continue;
            };
            fields.push(MappedField {
                target: target.clone(),
                key: target.clone(),
                template,
                on_create: on_create(target),
                nullable: spec.nullable,
                kind: spec.kind,
            });
        }
        if errors.is_empty() {
            Ok(Mapping {
                login_target,
                login,
                fields,
            })
        } else {
            Err(errors)
        }
    }

    /// The mapping of `app`, with bad entries left out (for callers that report
    /// problems elsewhere, such as the apply driver of a validated plan).
    pub fn lenient(app: &App) -> Mapping {
        match Mapping::of(app) {
            Ok(m) => m,
            Err(_) => {
                let mut plain = app.clone();
                match &mut plain {
                    App::Office365(a) => a.attribute_map.clear(),
                    App::ActiveDirectory(a) => a.attribute_map.clear(),
                    App::Scim(a) => a.attribute_map.clear(),
                    App::Ldap(a) => a.attribute_map.clear(),
                    App::GoogleWorkspace(a) => a.attribute_map.clear(),
                }
                Mapping::of(&plain).expect("the default mapping is valid")
            }
        }
    }

    /// A user's login in the app, trimmed.
    pub fn login_of(&self, user: &User) -> String {
        self.login
            .render(&|f| field_value(user, f))
            .trim()
            .to_string()
    }

    /// The login `user` would have under another username (for `previous_usernames`).
    pub fn login_with_username(&self, user: &User, username: &str) -> String {
        self.login
            .render(&|f| {
                if f == "username" {
                    Some(username.to_string())
                } else {
                    field_value(user, f)
                }
            })
            .trim()
            .to_string()
    }

    /// The field whose key is `key`.
    pub fn field(&self, key: &str) -> Option<&MappedField> {
        self.fields.iter().find(|f| f.key == key)
    }
}

impl MappedField {
    /// The field's value for `user`: rendered, trimmed, a date made a DateTimeOffset;
    /// empty is `None`.
    pub fn value(&self, user: &User) -> Option<String> {
        let v = self.template.render(&|f| field_value(user, f));
        normalize(self.kind, &v)
    }
}

/// A value as the app stores it: trimmed, empty as `None`, a `YYYY-MM-DD` date of a
/// DateTimeOffset target as midnight UTC.
pub fn normalize(kind: ValueKind, v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if kind == ValueKind::DateTime
        && v.len() == 10
        && v.as_bytes()[4] == b'-'
        && v.as_bytes()[7] == b'-'
    {
        return Some(format!("{v}T00:00:00Z"));
    }
    Some(v.to_string())
}

/// A template field's value for a user: `None` when absent.
pub fn field_value(user: &User, field: &str) -> Option<String> {
    match field {
        "username" => Some(user.username.clone()),
        "email" => Some(user.email.clone()),
        "first_name" => Some(user.first_name.clone()),
        "last_name" => Some(user.last_name.clone()),
        "display_name" => Some(user.display_name()),
        "department" => user.department.clone(),
        "job_title" => user.job_title.clone(),
        "employee_id" => user.employee_id.clone(),
        "usage_location" => user.usage_location.clone(),
        "mobile_phone" => user.mobile_phone.clone(),
        other => other
            .strip_prefix("attributes.")
            .and_then(|n| user.attributes.get(n).cloned()),
    }
}

/// The office365 anchor of a username: the `mailNickname` roster gives the accounts it
/// creates (ASCII letters, digits, `.`, `-`, `_`, at most 64, no leading or trailing
/// dot); `None` when nothing of the username survives.
pub fn mail_nickname(username: &str) -> Option<String> {
    let s: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(64)
        .collect();
    let s = s.trim_matches('.');
    (!s.is_empty()).then(|| s.to_string())
}
