//! Conversion of one file's marked YAML tree into the model, checking every key,
//! type and single-value rule on the way (unknown keys with suggestions, wrong
//! types, missing required keys, literal secrets, emails, dates, SKUs, app types).
//!
//! Cross-object rules (duplicates, references, cycles, authorized domains) need the
//! merged state and live in `check.rs`; this module records the positions they need.

use super::yaml::{Node, Pos, ScalarKind, Value};
use super::{Diagnostic, Loc, ObjLoc, Severity, SourceMap};
use crate::desired::model::*;

pub const FILE_KEYS: &[&str] = &["apps", "users", "groups", "memberships", "policies"];
pub const USER_KEYS: &[&str] = &[
    "username",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "enabled",
    "department",
    "job_title",
    "employee_id",
    "usage_location",
    "mobile_phone",
    "licenses",
    "password",
    "immutable_id",
    "attributes",
    "manager",
    "previous_usernames",
    "start_date",
    "end_date",
];
pub const GROUP_KEYS: &[&str] = &["name", "description", "members", "kind", "membership"];
pub const MEMBERSHIP_KEYS: &[&str] = &["group", "users", "expires"];
pub const POLICY_KEYS: &[&str] = &["name", "app", "groups"];
pub const OFFICE365_KEYS: &[&str] = &[
    "type",
    "name",
    "tenant",
    "client_id",
    "credentials",
    "graph_url",
    "login_url",
    "tls",
    "sandbox",
    "sandbox_seed",
    "authorized_domains",
    "switches",
    "ignore",
    "max_deletes",
    "manage_guests",
    "manage_role_assignable_groups",
    "attribute_map",
    "on_create",
    "joiner",
    "leaver",
];
pub const ACTIVE_DIRECTORY_KEYS: &[&str] = &[
    "type",
    "name",
    "url",
    "base_dn",
    "users_ou",
    "groups_ou",
    "bind_dn",
    "bind_password",
    "starttls",
    "tls",
    "authorized_domains",
    "switches",
    "ignore",
    "max_deletes",
    "attribute_map",
    "on_create",
    "joiner",
    "leaver",
];
pub const SCIM_KEYS: &[&str] = &[
    "type",
    "name",
    "url",
    "token",
    "tls",
    "authorized_domains",
    "switches",
    "ignore",
    "max_deletes",
    "attribute_map",
    "on_create",
    "joiner",
    "leaver",
];
pub const LDAP_KEYS: &[&str] = &[
    "type",
    "name",
    "url",
    "base_dn",
    "users_ou",
    "groups_ou",
    "bind_dn",
    "bind_password",
    "starttls",
    "tls",
    "authorized_domains",
    "switches",
    "ignore",
    "max_deletes",
    "attribute_map",
    "on_create",
    "user_object_classes",
    "user_rdn",
    "group_object_class",
    "posix",
    "disabled",
    "joiner",
    "leaver",
];
pub const LDAP_POSIX_KEYS: &[&str] = &[
    "uid_number_start",
    "gid_number",
    "home_directory",
    "login_shell",
];
pub const LDAP_DISABLED_KEYS: &[&str] = &["attribute", "value"];
pub const LDAP_GROUP_CLASSES: &[&str] = &["groupOfNames", "groupOfUniqueNames", "posixGroup"];
pub const GOOGLE_WORKSPACE_KEYS: &[&str] = &[
    "type",
    "name",
    "domain",
    "customer",
    "credentials",
    "subject",
    "api_url",
    "token_url",
    "tls",
    "org_unit",
    "authorized_domains",
    "switches",
    "ignore",
    "max_deletes",
    "attribute_map",
    "on_create",
    "joiner",
    "leaver",
    "sandbox",
];
pub const GOOGLE_CREDENTIAL_KEYS: &[&str] = &["service_account_key"];
pub const SWITCH_KEYS: &[&str] = &[
    "create_users",
    "update_users",
    "delete_users",
    "password_sync",
    "enable_disable_users",
    "create_groups",
    "delete_groups",
    "sync_memberships",
];
pub const JOINER_KEYS: &[&str] = &["provision_days_before_start"];
pub const LEAVER_KEYS: &[&str] = &["remove_access_after_days", "delete_after_days"];
pub const TLS_KEYS: &[&str] = &["ca_file", "server_name"];
pub const CREDENTIAL_KEYS: &[&str] = &["client_secret", "certificate", "federated_token"];
pub const CERTIFICATE_KEYS: &[&str] = &["cert_file", "key_file"];
pub const SECRET_KEYS: &[&str] = &["env", "file"];
pub const GROUP_KINDS: &[&str] = &["security", "microsoft365", "repository"];

fn app_keys(ty: &str) -> &'static [&'static str] {
    match ty {
        "office365" => OFFICE365_KEYS,
        "active_directory" => ACTIVE_DIRECTORY_KEYS,
        "ldap" => LDAP_KEYS,
        "google_workspace" => GOOGLE_WORKSPACE_KEYS,
        _ => SCIM_KEYS,
    }
}

/// The result of converting one file.
#[derive(Debug, Default)]
pub struct FileOut {
    pub repo: RepoFile,
    pub locs: SourceMap,
    /// Every app entry that carried a name, valid or not (for duplicate and reference checks).
    pub app_decls: Vec<(String, Loc)>,
    /// Problems not reported because the per-file cap was reached.
    pub omitted: usize,
}

struct Cx<'a> {
    file: &'a str,
    /// The same name, shared by every recorded position.
    shared: std::sync::Arc<str>,
    diags: &'a mut Vec<Diagnostic>,
    /// Problems reported for this file, and those dropped over the cap.
    count: usize,
    omitted: usize,
}

impl Cx<'_> {
    fn loc(&self, pos: Pos) -> Loc {
        Loc {
            file: self.shared.clone(),
            line: pos.line(),
            col: pos.col(),
        }
    }
    fn err(&mut self, pos: Pos, message: impl Into<String>) {
        self.report(pos, Severity::Error, message.into());
    }
    fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.report(pos, Severity::Warning, message.into());
    }
    fn report(&mut self, pos: Pos, severity: Severity, message: String) {
        if self.full() {
            self.omitted += 1;
            return;
        }
        self.count += 1;
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line: pos.line(),
            col: pos.col(),
            severity,
            message: super::clip_message(message),
        });
    }
    /// True once the per-file cap is reached: callers skip costly messages.
    fn full(&self) -> bool {
        self.count >= super::MAX_DIAGNOSTICS_PER_FILE
    }
}

/// The closest candidate to `word`, when it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&lower, &c.to_ascii_lowercase());
        let dist = strsim::levenshtein(&lower, &c.to_ascii_lowercase());
        let ok = score >= 0.85 || dist <= 2.min(c.len().saturating_sub(1));
        if ok && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// A mapping node with helpers that report problems against `what`.
struct Obj<'n> {
    node: &'n Node,
    entries: &'n [(Node, Node)],
    what: String,
    fields: Vec<(&'static str, Pos)>,
    items: Vec<(&'static str, Vec<Pos>)>,
}

impl<'n> Obj<'n> {
    fn new(node: &'n Node, what: String) -> Option<Obj<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Obj {
                node,
                entries,
                what,
                fields: Vec::new(),
                items: Vec::new(),
            }),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .map(|(_, v)| v)
    }

    fn check_keys(&self, cx: &mut Cx, allowed: &[&str]) {
        for (k, _) in self.entries {
            let key = k.key_text();
            if allowed.contains(&key) {
                continue;
            }
            if cx.full() {
                cx.omitted += 1;
                continue;
            }
            let hint = match suggest(key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("valid keys: {}", allowed.join(", ")),
            };
            cx.err(
                k.pos,
                format!("unknown key `{key}` in {} ({hint})", self.what),
            );
        }
    }

    fn mark(&mut self, cx: &Cx, key: &'static str, node: &Node) {
        let _ = cx;
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = node.pos,
            None => self.fields.push((key, node.pos)),
        }
    }

    fn missing(&self, cx: &mut Cx, key: &'static str) {
        cx.err(
            self.node.pos,
            format!("{} is missing the required key `{key}`", self.what),
        );
    }

    /// An optional string; null counts as absent.
    fn opt_str(&mut self, cx: &mut Cx, key: &'static str) -> Option<String> {
        let node = self.get(key)?;
        self.mark(cx, key, node);
        if node.is_null() {
            return None;
        }
        as_string(cx, node, &format!("`{key}` of {}", self.what))
    }

    fn req_str(&mut self, cx: &mut Cx, key: &'static str) -> Option<String> {
        match self.get(key) {
            None => {
                self.missing(cx, key);
                None
            }
            Some(n) if n.is_null() => {
                self.mark(cx, key, n);
                cx.err(n.pos, format!("`{key}` of {} must not be empty", self.what));
                None
            }
            Some(_) => self.opt_str(cx, key),
        }
    }

    fn opt_bool(&mut self, cx: &mut Cx, key: &'static str) -> Option<bool> {
        let node = self.get(key)?;
        self.mark(cx, key, node);
        match &node.value {
            Value::Scalar(s) => match s.kind() {
                ScalarKind::Bool(b) => Some(b),
                ScalarKind::Null => None,
                _ => {
                    cx.err(
                        node.pos,
                        format!(
                            "`{key}` of {} must be true or false, found {}",
                            self.what,
                            node.type_name()
                        ),
                    );
                    None
                }
            },
            _ => {
                cx.err(
                    node.pos,
                    format!(
                        "`{key}` of {} must be true or false, found {}",
                        self.what,
                        node.type_name()
                    ),
                );
                None
            }
        }
    }

    fn opt_u32(&mut self, cx: &mut Cx, key: &'static str) -> Option<u32> {
        let node = self.get(key)?;
        self.mark(cx, key, node);
        if node.is_null() {
            return None;
        }
        if let Value::Scalar(s) = &node.value
            && s.kind() == ScalarKind::Int
            && let Ok(v) = s.text.parse::<u32>()
        {
            return Some(v);
        }
        cx.err(
            node.pos,
            format!(
                "`{key}` of {} must be a whole number from 0 to {}, found {}",
                self.what,
                u32::MAX,
                node.type_name()
            ),
        );
        None
    }

    /// An optional calendar date written YYYY-MM-DD; null counts as absent.
    fn opt_date(&mut self, cx: &mut Cx, key: &'static str) -> Option<String> {
        let node = self.get(key)?;
        self.mark(cx, key, node);
        match &node.value {
            _ if node.is_null() => None,
            Value::Scalar(s) if valid_date(&s.text) => Some(s.text.clone()),
            Value::Scalar(s) => {
                cx.err(
                    node.pos,
                    format!(
                        "invalid date `{}` in `{key}` of {}: expected a calendar date written YYYY-MM-DD",
                        s.text, self.what
                    ),
                );
                None
            }
            _ => {
                cx.err(
                    node.pos,
                    format!(
                        "`{key}` of {} must be a date YYYY-MM-DD, found {}",
                        self.what,
                        node.type_name()
                    ),
                );
                None
            }
        }
    }

    /// A list of strings; each element's position is recorded under `key`.
    fn str_list(&mut self, cx: &mut Cx, key: &'static str, required: bool) -> Option<Vec<String>> {
        self.list_of(cx, key, required)
    }

    /// A list of strings as `T` (`String`, or [`MemberName`] for member lists, made
    /// straight from the text without a `String` of its own).
    fn list_of<T: for<'s> From<&'s str>>(
        &mut self,
        cx: &mut Cx,
        key: &'static str,
        required: bool,
    ) -> Option<Vec<T>> {
        let Some(node) = self.get(key) else {
            if required {
                self.missing(cx, key);
            }
            return None;
        };
        self.mark(cx, key, node);
        let what = format!("`{key}` of {}", self.what);
        match &node.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut locs = Vec::with_capacity(items.len());
                for item in items {
                    // The common case (a string) without building the message.
                    let text = match &item.value {
                        Value::Scalar(s) if s.kind() == ScalarKind::Str => {
                            Some(T::from(s.text.as_str()))
                        }
                        _ => as_string(cx, item, &format!("an element of {what}"))
                            .map(|s| T::from(s.as_str())),
                    };
                    if let Some(s) = text {
                        out.push(s);
                        locs.push(item.pos);
                    }
                }
                self.items.push((key, locs));
                Some(out)
            }
            _ if node.is_null() => {
                self.items.push((key, Vec::new()));
                Some(Vec::new())
            }
            Value::Scalar(_) => {
                cx.err(
                    node.pos,
                    format!(
                        "{what} must be a list (write it as [ ... ]), found {}",
                        node.type_name()
                    ),
                );
                None
            }
            Value::Map(_) => {
                cx.err(node.pos, format!("{what} must be a list, found a mapping"));
                None
            }
        }
    }

    fn opt_secret(&mut self, cx: &mut Cx, key: &'static str) -> Option<SecretRef> {
        let node = self.get(key)?;
        self.mark(cx, key, node);
        secret(cx, node, &format!("`{key}` of {}", self.what))
    }

    fn req_secret(&mut self, cx: &mut Cx, key: &'static str) -> Option<SecretRef> {
        if self.get(key).is_none() {
            self.missing(cx, key);
            return None;
        }
        self.opt_secret(cx, key)
    }

    fn sub(&mut self, cx: &mut Cx, key: &'static str) -> Option<Obj<'n>> {
        let node = self.get(key)?;
        self.mark(cx, key, node);
        if node.is_null() {
            return None;
        }
        let what = format!("`{key}` of {}", self.what);
        match Obj::new(node, what.clone()) {
            Some(o) => Some(o),
            None => {
                cx.err(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn item_positions(&self, key: &str) -> Vec<Pos> {
        self.items
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn into_loc(mut self, cx: &Cx) -> ObjLoc {
        // Kept for every object of the repository: no spare capacity.
        self.fields.shrink_to_fit();
        self.items.shrink_to_fit();
        ObjLoc {
            file: cx.shared.clone(),
            at: self.node.pos,
            fields: self.fields,
            items: self.items,
        }
    }
}

fn as_string(cx: &mut Cx, node: &Node, what: &str) -> Option<String> {
    match &node.value {
        Value::Scalar(s) => match s.kind() {
            ScalarKind::Str => Some(s.text.clone()),
            ScalarKind::Int | ScalarKind::Float => {
                cx.err(
                    node.pos,
                    format!(
                        "{what} must be a string, found {} (quote it: \"{}\")",
                        node.type_name(),
                        s.text
                    ),
                );
                None
            }
            _ => {
                cx.err(
                    node.pos,
                    format!("{what} must be a string, found {}", node.type_name()),
                );
                None
            }
        },
        _ => {
            cx.err(
                node.pos,
                format!("{what} must be a string, found {}", node.type_name()),
            );
            None
        }
    }
}

/// A secret reference. A literal value is an error whose message never contains it.
fn secret(cx: &mut Cx, node: &Node, what: &str) -> Option<SecretRef> {
    match &node.value {
        Value::Scalar(s) if s.kind() != ScalarKind::Null => {
            cx.err(
                node.pos,
                format!(
                    "{what} must be a secret reference such as {{ env: NAME }} or {{ file: PATH }}, \
                     not a literal value (the value is not shown)"
                ),
            );
            None
        }
        Value::Map(entries) => {
            let mut found = Vec::new();
            for (k, v) in entries {
                let key = k.key_text();
                match key {
                    "env" | "file" => {
                        if let Some(text) = as_string(cx, v, &format!("`{key}` of {what}")) {
                            if text.trim().is_empty() {
                                cx.err(v.pos, format!("`{key}` of {what} must not be empty"));
                            } else if key == "env" {
                                found.push(SecretRef::Env(text));
                            } else {
                                if !std::path::Path::new(&text).is_absolute()
                                    && crate::repo_paths::has_parent_component(&text)
                                {
                                    cx.err(
                                        v.pos,
                                        format!(
                                            "`file` of {what} must stay inside the repository (no `..`); an absolute path such as /run/secrets/NAME is accepted"
                                        ),
                                    );
                                }
                                found.push(SecretRef::File(text));
                            }
                        }
                    }
                    _ => {
                        let hint = match suggest(key, SECRET_KEYS.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "a secret reference has exactly one of `env`, `file`".into(),
                        };
                        cx.err(k.pos, format!("unknown key `{key}` in {what} ({hint})"));
                    }
                }
            }
            match found.len() {
                1 => found.pop(),
                0 if entries.is_empty() => {
                    cx.err(node.pos, format!("{what} must have one of `env`, `file`"));
                    None
                }
                0 => None,
                _ => {
                    cx.err(
                        node.pos,
                        format!("{what} must have exactly one of `env`, `file`, not both"),
                    );
                    None
                }
            }
        }
        _ => {
            cx.err(
                node.pos,
                format!(
                    "{what} must be a secret reference such as {{ env: NAME }} or {{ file: PATH }}, found {}",
                    node.type_name()
                ),
            );
            None
        }
    }
}

/// True for a plausible email address (local@domain.tld).
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    local_ok && valid_domain(domain)
}

/// True for a DNS domain name with at least two labels.
pub fn valid_domain(d: &str) -> bool {
    if d.is_empty() || d.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let labels_ok = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.chars().any(|c| c.is_ascii_alphabetic()));
    labels_ok && tld_ok
}

/// True for a valid calendar date written YYYY-MM-DD.
pub fn valid_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &fmt).is_ok()
}

/// True for a plausible Office 365 SKU part number (ENTERPRISEPACK, SPE_E3, ...).
pub fn valid_sku(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_+().-".contains(c))
}

const USERNAME_FORBIDDEN: &str = "\"/\\[]:;|=,+*?<>@";

/// Convert one file's tree. `root` is `None` for an empty file.
pub fn convert_file(file: &str, root: Option<&Node>, diags: &mut Vec<Diagnostic>) -> FileOut {
    let mut cx = Cx {
        file,
        shared: file.into(),
        diags,
        count: 0,
        omitted: 0,
    };
    let mut out = convert_root(&mut cx, root);
    out.omitted = cx.omitted;
    out
}

fn convert_root(cx: &mut Cx, root: Option<&Node>) -> FileOut {
    let mut out = FileOut::default();
    let Some(root) = root else {
        return out;
    };
    if root.is_null() {
        return out;
    }
    let Some(top) = Obj::new(root, "this file".into()) else {
        cx.err(
            root.pos,
            format!(
                "a repository file must be a mapping with any of the keys {}, found {}",
                FILE_KEYS.join(", "),
                root.type_name()
            ),
        );
        return out;
    };
    for (k, _) in top.entries {
        let key = k.key_text();
        if !FILE_KEYS.contains(&key) {
            if cx.full() {
                cx.omitted += 1;
                continue;
            }
            let hint = match suggest(key, FILE_KEYS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("valid keys: {}", FILE_KEYS.join(", ")),
            };
            cx.err(k.pos, format!("unknown top-level key `{key}` ({hint})"));
        }
    }
    for &section in FILE_KEYS {
        let Some(list) = top.get(section) else {
            continue;
        };
        let items: &[Node] = match &list.value {
            Value::Seq(items) => items,
            _ if list.is_null() => &[],
            _ => {
                cx.err(
                    list.pos,
                    format!(
                        "`{section}` must be a list of entries, found {}",
                        list.type_name()
                    ),
                );
                continue;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let singular = section.trim_end_matches('s');
            let Some(obj) = Obj::new(item, format!("{singular} entry #{}", i + 1)) else {
                cx.err(
                    item.pos,
                    format!(
                        "each entry of `{section}` must be a mapping, found {}",
                        item.type_name()
                    ),
                );
                continue;
            };
            match section {
                "apps" => convert_app(cx, obj, &mut out),
                "users" => convert_user(cx, obj, &mut out),
                "groups" => convert_group(cx, obj, &mut out),
                "memberships" => convert_membership(cx, obj, &mut out),
                _ => convert_policy(cx, obj, &mut out),
            }
        }
    }
    out
}

/// Read the object's name key (for messages) before anything else.
fn name_of(cx: &mut Cx, obj: &mut Obj, key: &'static str, kind: &str) -> Option<String> {
    let name = obj.req_str(cx, key);
    if let Some(n) = &name {
        if n.trim().is_empty() {
            if let Some(node) = obj.get(key) {
                cx.err(
                    node.pos,
                    format!("`{key}` of {} must not be empty", obj.what),
                );
            }
            return None;
        }
        obj.what = format!("{kind} `{n}`");
    }
    name
}

fn convert_user(cx: &mut Cx, mut obj: Obj, out: &mut FileOut) {
    let username = name_of(cx, &mut obj, "username", "user");
    obj.check_keys(cx, USER_KEYS);
    if let (Some(u), Some(node)) = (&username, obj.get("username")) {
        if u.starts_with("group:") {
            cx.err(node.pos, format!("username `{u}` must not start with `group:` (that prefix names a group in member lists)"));
        } else if let Some(c) = u
            .chars()
            .find(|c| USERNAME_FORBIDDEN.contains(*c) || c.is_whitespace() || c.is_control())
        {
            cx.err(
                node.pos,
                format!("username `{u}` contains {c:?}; usernames may not contain whitespace or any of {USERNAME_FORBIDDEN}"),
            );
        }
    }
    let email = obj.req_str(cx, "email");
    if let (Some(e), Some(node)) = (&email, obj.get("email"))
        && !valid_email(e)
    {
        cx.err(
            node.pos,
            format!("invalid email address `{e}` for {}", obj.what),
        );
    }
    let first_name = obj.req_str(cx, "first_name");
    let last_name = obj.req_str(cx, "last_name");
    let display_name = obj.opt_str(cx, "display_name");
    let enabled = obj.opt_bool(cx, "enabled").unwrap_or(true);
    let department = obj.opt_str(cx, "department");
    let job_title = obj.opt_str(cx, "job_title");
    let employee_id = obj.opt_str(cx, "employee_id");
    let usage_location = obj.opt_str(cx, "usage_location");
    if let (Some(ul), Some(node)) = (&usage_location, obj.get("usage_location"))
        && !(ul.len() == 2 && ul.chars().all(|c| c.is_ascii_uppercase()))
    {
        cx.err(
            node.pos,
            format!("`usage_location` of {} must be a two-letter upper-case country code such as US, found `{ul}`", obj.what),
        );
    }
    let mobile_phone = obj.opt_str(cx, "mobile_phone");
    let licenses = obj.str_list(cx, "licenses", false).unwrap_or_default();
    let license_locs = obj.item_positions("licenses");
    for (sku, loc) in licenses.iter().zip(&license_locs) {
        if !valid_sku(sku) {
            cx.err(
                *loc,
                format!(
                    "invalid license SKU part number `{sku}` for {}: expected letters, digits and underscores, such as ENTERPRISEPACK or SPE_E3",
                    obj.what
                ),
            );
        }
    }
    let password = obj.opt_secret(cx, "password");
    let immutable_id = obj.opt_str(cx, "immutable_id");
    if let (Some(id), Some(node)) = (&immutable_id, obj.get("immutable_id")) {
        let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
        if id.is_empty() || id.len() % 4 != 0 || !id.chars().all(b64) {
            cx.err(
                node.pos,
                format!(
                    "`immutable_id` of {} must be base64 (the on-premises objectGUID, e.g. `AAECAwQFBgcICQoLDA0ODw==`), found `{id}`",
                    obj.what
                ),
            );
        }
    }
    let attributes = custom_attributes(cx, &mut obj);
    let manager = obj.opt_str(cx, "manager");
    if let (Some(m), Some(u), Some(node)) = (&manager, &username, obj.get("manager"))
        && m == u
    {
        cx.err(
            node.pos,
            format!("{} names itself as its manager", obj.what),
        );
    }
    let previous_usernames = obj
        .str_list(cx, "previous_usernames", false)
        .unwrap_or_default();
    for (p, loc) in previous_usernames
        .iter()
        .zip(obj.item_positions("previous_usernames"))
    {
        if Some(p) == username.as_ref() {
            cx.err(
                loc,
                format!(
                    "`previous_usernames` of {} lists its current username",
                    obj.what
                ),
            );
        } else if let Some(c) = p
            .chars()
            .find(|c| USERNAME_FORBIDDEN.contains(*c) || c.is_whitespace() || c.is_control())
        {
            cx.err(
                loc,
                format!(
                    "previous username `{p}` of {} contains {c:?}, which no username may contain",
                    obj.what
                ),
            );
        }
    }
    let start_date = obj.opt_date(cx, "start_date");
    let end_date = obj.opt_date(cx, "end_date");
    if let (Some(start), Some(end), Some(node)) = (&start_date, &end_date, obj.get("end_date"))
        && end < start
    {
        cx.err(
            node.pos,
            format!(
                "`end_date` {end} of {} is before its `start_date` {start}",
                obj.what
            ),
        );
    }
    let Some(username) = username else {
        return;
    };
    out.repo.users.push(User {
        start_date,
        end_date,
        username,
        email: email.unwrap_or_default(),
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        display_name,
        enabled,
        department,
        job_title,
        employee_id,
        usage_location,
        mobile_phone,
        licenses,
        password,
        immutable_id,
        attributes,
        manager,
        previous_usernames,
    });
    out.locs.users.push(obj.into_loc(cx));
}

/// A custom attribute's name: what `{attributes.NAME}` can read.
fn valid_attribute_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A user's `attributes`: NAME → text (numbers and booleans are refused like elsewhere,
/// so that `007` keeps its zeros only when quoted).
fn custom_attributes(cx: &mut Cx, obj: &mut Obj) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let Some(map) = obj.sub(cx, "attributes") else {
        return out;
    };
    for (k, v) in map.entries {
        let name = k.key_text();
        if !valid_attribute_name(name) {
            cx.err(
                k.pos,
                format!("custom attribute name `{name}` in {} may hold only letters, digits, `_` and `-`", map.what),
            );
            continue;
        }
        if v.is_null() {
            continue;
        }
        if let Some(text) = as_string(cx, v, &format!("`{name}` of {}", map.what)) {
            out.insert(name.to_string(), text);
        }
    }
    out
}

/// An app's `attribute_map` and `on_create`: every target known for the app type,
/// every template valid, `on_create` naming mapped targets but the login.
fn convert_mapping(
    cx: &mut Cx,
    obj: &mut Obj,
    ty: &str,
) -> (
    std::collections::BTreeMap<String, Option<String>>,
    Vec<String>,
) {
    use crate::mapping::{Template, targets};
    let mut map = std::collections::BTreeMap::new();
    let (login, _) = targets::login(ty);
    if let Some(m) = obj.sub(cx, "attribute_map") {
        for (k, v) in m.entries {
            let target = k.key_text();
            if targets::find(ty, target).is_none() {
                let names = targets::targets(ty).iter().map(|t| t.name);
                let hint = match suggest(target, names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "{ty} targets: {}",
                        targets::targets(ty)
                            .iter()
                            .map(|t| t.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                cx.err(
                    k.pos,
                    format!(
                        "`{target}` in {} is not an attribute roster can map on {ty} apps ({hint})",
                        m.what
                    ),
                );
                continue;
            }
            if v.is_null() {
                if target == login {
                    cx.err(v.pos, format!("`{target}` is the login of {ty} apps: it can be templated but not left unmanaged"));
                    continue;
                }
                map.insert(target.to_string(), None);
                continue;
            }
            let what = format!("`{target}` of {}", m.what);
            let Some(text) = as_string(cx, v, &what) else {
                continue;
            };
            if let Err(e) = Template::parse(&text) {
                cx.err(
                    v.pos,
                    format!(
                        "template {what} is invalid at character {}: {}",
                        e.offset + 1,
                        e.message
                    ),
                );
                continue;
            }
            map.insert(target.to_string(), Some(text));
        }
    }
    let on_create = obj.str_list(cx, "on_create", false).unwrap_or_default();
    for (t, loc) in on_create.iter().zip(obj.item_positions("on_create")) {
        let mapped = match map.get(t.as_str()) {
            Some(v) => v.is_some(),
            None => targets::defaults(ty).iter().any(|(d, _)| d == t),
        };
        if t == login {
            cx.err(loc, format!("`{t}` in `on_create` of {} is the login, which roster keeps in step to find the account", obj.what));
        } else if !mapped {
            cx.err(loc, format!("`{t}` in `on_create` of {} is not a mapped attribute of the app (map it in `attribute_map`)", obj.what));
        }
    }
    (map, on_create)
}

fn check_member_strings(cx: &mut Cx, obj: &Obj, key: &'static str, values: &[MemberName]) {
    let locs = obj.item_positions(key);
    let mut seen = std::collections::HashSet::new();
    for (m, loc) in values.iter().zip(&locs) {
        if !seen.insert(m.as_str()) {
            cx.warn(
                *loc,
                format!("`{m}` is listed twice in `{key}` of {}", obj.what),
            );
        }
        let pos = *loc;
        if m.trim().is_empty() {
            cx.err(
                pos,
                format!("an element of `{key}` of {} is empty", obj.what),
            );
        } else if m == "group:" {
            cx.err(
                pos,
                format!(
                    "`group:` in `{key}` of {} needs a group name after the colon",
                    obj.what
                ),
            );
        }
    }
}

fn convert_group(cx: &mut Cx, mut obj: Obj, out: &mut FileOut) {
    let name = name_of(cx, &mut obj, "name", "group");
    obj.check_keys(cx, GROUP_KEYS);
    let description = obj.opt_str(cx, "description");
    let members = obj.list_of(cx, "members", false).unwrap_or_default();
    check_member_strings(cx, &obj, "members", &members);
    let kind = match obj.opt_str(cx, "kind") {
        None => None,
        Some(k) => match k.as_str() {
            "security" => Some(GroupKind::Security),
            "microsoft365" => Some(GroupKind::Microsoft365),
            "repository" => Some(GroupKind::Repository),
            _ => {
                if let Some(node) = obj.get("kind") {
                    cx.err(
                        node.pos,
                        format!(
                            "unknown group kind `{k}` for {}; valid kinds: {}",
                            obj.what,
                            GROUP_KINDS.join(", ")
                        ),
                    );
                }
                None
            }
        },
    };
    let membership = match obj.opt_str(cx, "membership") {
        None => None,
        Some(m) => match m.as_str() {
            "authoritative" => Some(MembershipMode::Authoritative),
            "additive" => Some(MembershipMode::Additive),
            _ => {
                if let Some(node) = obj.get("membership") {
                    cx.err(
                        node.pos,
                        format!(
                            "unknown membership mode `{m}` for {}; valid modes: authoritative, additive",
                            obj.what
                        ),
                    );
                }
                None
            }
        },
    };
    let Some(name) = name else {
        return;
    };
    out.repo.groups.push(Group {
        name,
        description,
        members,
        kind,
        membership,
    });
    out.locs.groups.push(obj.into_loc(cx));
}

fn convert_membership(cx: &mut Cx, mut obj: Obj, out: &mut FileOut) {
    let group = obj.req_str(cx, "group");
    if let Some(g) = &group {
        obj.what = format!("membership of group `{g}`");
    }
    obj.check_keys(cx, MEMBERSHIP_KEYS);
    let users = obj.list_of(cx, "users", true);
    if let Some(u) = &users {
        check_member_strings(cx, &obj, "users", u);
    }
    let expires = match obj.get("expires") {
        Some(node) if !node.is_null() => {
            obj.mark(cx, "expires", node);
            match &node.value {
                Value::Scalar(s) if !valid_date(&s.text) => {
                    cx.err(
                        node.pos,
                        format!(
                            "invalid date `{}` in `expires` of {}: expected a calendar date written YYYY-MM-DD",
                            s.text, obj.what
                        ),
                    );
                    None
                }
                Value::Scalar(s) => Some(s.text.clone()),
                _ => {
                    cx.err(
                        node.pos,
                        format!(
                            "`expires` of {} must be a date YYYY-MM-DD, found {}",
                            obj.what,
                            node.type_name()
                        ),
                    );
                    None
                }
            }
        }
        _ => None,
    };
    let Some(group) = group else {
        return;
    };
    out.repo.memberships.push(Membership {
        group,
        users: users.unwrap_or_default(),
        expires,
    });
    out.locs.memberships.push(obj.into_loc(cx));
}

fn convert_policy(cx: &mut Cx, mut obj: Obj, out: &mut FileOut) {
    let name = name_of(cx, &mut obj, "name", "policy");
    obj.check_keys(cx, POLICY_KEYS);
    let app = obj.req_str(cx, "app");
    let groups = obj.str_list(cx, "groups", true);
    let Some(name) = name else {
        return;
    };
    out.repo.policies.push(Policy {
        name,
        app: app.unwrap_or_default(),
        groups: groups.unwrap_or_default(),
    });
    out.locs.policies.push(obj.into_loc(cx));
}

fn convert_switches(cx: &mut Cx, obj: &mut Obj) -> Switches {
    let mut sw = Switches::default();
    let Some(mut s) = obj.sub(cx, "switches") else {
        return sw;
    };
    s.check_keys(cx, SWITCH_KEYS);
    let fields: [(&str, &mut bool); 8] = [
        ("create_users", &mut sw.create_users),
        ("update_users", &mut sw.update_users),
        ("delete_users", &mut sw.delete_users),
        ("password_sync", &mut sw.password_sync),
        ("enable_disable_users", &mut sw.enable_disable_users),
        ("create_groups", &mut sw.create_groups),
        ("delete_groups", &mut sw.delete_groups),
        ("sync_memberships", &mut sw.sync_memberships),
    ];
    for (key, slot) in fields {
        if let Some(v) = s.opt_bool(cx, key) {
            *slot = v;
        }
    }
    sw
}

/// An app's `joiner` and `leaver` settings.
fn convert_lifecycle(
    cx: &mut Cx,
    obj: &mut Obj,
    switches: &Switches,
) -> (Option<JoinerSettings>, Option<LeaverSettings>) {
    let joiner = obj.sub(cx, "joiner").map(|mut j| {
        j.check_keys(cx, JOINER_KEYS);
        JoinerSettings {
            provision_days_before_start: j.opt_u32(cx, "provision_days_before_start").unwrap_or(0),
        }
    });
    let leaver = obj.sub(cx, "leaver").map(|mut l| {
        l.check_keys(cx, LEAVER_KEYS);
        let remove = l.opt_u32(cx, "remove_access_after_days").unwrap_or(0);
        let delete = l.opt_u32(cx, "delete_after_days");
        if let (Some(d), Some(node)) = (delete, l.get("delete_after_days")) {
            if d < remove {
                cx.err(
                    node.pos,
                    format!(
                        "`delete_after_days` ({d}) of {} is before `remove_access_after_days` ({remove})",
                        l.what
                    ),
                );
            } else if !switches.delete_users {
                cx.warn(
                    node.pos,
                    format!(
                        "`delete_after_days` of {} has no effect while `switches.delete_users` is false: leavers are disabled, never deleted",
                        l.what
                    ),
                );
            }
        }
        LeaverSettings {
            remove_access_after_days: remove,
            delete_after_days: delete,
        }
    });
    (joiner, leaver)
}

fn convert_tls(cx: &mut Cx, obj: &mut Obj, allowed: &[&str]) -> Option<TlsSettings> {
    let mut t = obj.sub(cx, "tls")?;
    t.check_keys(cx, allowed);
    let ca_file = t.opt_str(cx, "ca_file");
    check_repo_path(cx, &t, "ca_file", &ca_file, true);
    // The early reference check (`preflight`) points at the nested value.
    if let Some(node) = t.get("ca_file") {
        obj.mark(cx, "tls.ca_file", node);
    }
    let server_name = t.opt_str(cx, "server_name");
    if let (Some(name), Some(node)) = (&server_name, t.get("server_name"))
        && crate::apps::kit::tls::check_server_name(name).is_err()
    {
        cx.err(
            node.pos,
            format!(
                "`server_name` of {} must be a DNS name or an IP address (the name the server's certificate is verified for), found {name:?}",
                t.what
            ),
        );
    }
    Some(TlsSettings {
        ca_file,
        server_name,
    })
}

/// A path setting resolved against the repository root: relative paths must not climb
/// out with `..`; absolute paths only where the setting allows them.
fn check_repo_path(
    cx: &mut Cx,
    obj: &Obj,
    key: &'static str,
    value: &Option<String>,
    allow_absolute: bool,
) {
    let (Some(v), Some(node)) = (value, obj.get(key)) else {
        return;
    };
    if std::path::Path::new(v).is_absolute() {
        if !allow_absolute {
            cx.err(
                node.pos,
                format!(
                    "`{key}` of {} must be a path relative to the repository root",
                    obj.what
                ),
            );
        }
    } else if crate::repo_paths::has_parent_component(v) {
        cx.err(
            node.pos,
            format!(
                "`{key}` of {} must stay inside the repository (no `..` in `{v}`)",
                obj.what
            ),
        );
    }
}

fn check_url(cx: &mut Cx, obj: &Obj, key: &'static str, value: &Option<String>, schemes: &[&str]) {
    let (Some(v), Some(node)) = (value, obj.get(key)) else {
        return;
    };
    match url::Url::parse(v) {
        Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some() => {}
        _ => cx.err(
            node.pos,
            format!(
                "`{key}` of {} must be a URL starting with {}",
                obj.what,
                schemes
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ),
    }
}

/// Microsoft's documented Graph and sign-in hosts: the global service, US Government
/// L4 and L5 (DoD), and the China cloud operated by 21Vianet.
const MICROSOFT_GRAPH_HOSTS: &[&str] = &[
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
];
const MICROSOFT_LOGIN_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
];

/// The operator's list of further endpoint hosts that may receive credentials
/// (`ROSTER_ALLOW_ENDPOINTS`, comma- or space-separated). It comes from the environment
/// of the run, never from the repository, so a pull request cannot extend it.
fn operator_allowed_endpoints() -> &'static [String] {
    static ALLOWED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ALLOWED.get_or_init(|| {
        std::env::var("ROSTER_ALLOW_ENDPOINTS")
            .unwrap_or_default()
            .split([',', ' '])
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    })
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        // Hosts of non-special schemes (ldap://) are opaque: IPv4 addresses come as text.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Transport rules for an endpoint that receives credentials: `https://` unless the
/// host is a loopback address, and, for Microsoft endpoints (`known` is not empty), one
/// of Microsoft's documented hosts, a loopback address, or a host the operator allowed.
/// Checked when the repository is loaded, before anything touches the network.
fn check_endpoint(
    cx: &mut Cx,
    obj: &Obj,
    key: &'static str,
    value: &Option<String>,
    known: &[&str],
) {
    check_vendor_endpoint(
        cx,
        obj,
        key,
        value,
        known,
        "a Microsoft endpoint (global, US Government L4/L5 or China",
    )
}

/// [`check_endpoint`] for any vendor: `vendor` opens the words naming the known hosts
/// (`a Google endpoint (`), the list and a `)` follow.
fn check_vendor_endpoint(
    cx: &mut Cx,
    obj: &Obj,
    key: &'static str,
    value: &Option<String>,
    known: &[&str],
    vendor: &str,
) {
    let (Some(v), Some(node)) = (value, obj.get(key)) else {
        return;
    };
    let Ok(u) = url::Url::parse(v) else {
        return; // check_url reported it
    };
    if is_loopback(&u) {
        return;
    }
    let host = u
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if u.scheme() == "http" {
        cx.err(
            node.pos,
            format!(
                "`{key}` of {} must use https:// (http:// is accepted only for a loopback address): credentials and access tokens would cross the network in clear text",
                obj.what
            ),
        );
        return;
    }
    if !known.is_empty()
        && !known.contains(&host.as_str())
        && !operator_allowed_endpoints().contains(&host)
    {
        cx.err(
            node.pos,
            format!(
                "`{key}` of {} points at {host}, which is not {vendor}: {}); roster would send the app's credentials there. If this host is yours, allow it in the environment of the run: ROSTER_ALLOW_ENDPOINTS={host}",
                obj.what,
                known.join(", ")
            ),
        );
    }
}

fn common_app_fields(
    cx: &mut Cx,
    obj: &mut Obj,
) -> (Option<Vec<String>>, Switches, Vec<String>, Option<u32>) {
    let domains = obj.str_list(cx, "authorized_domains", false);
    if let Some(ds) = &domains {
        let locs = obj.item_positions("authorized_domains");
        for (d, loc) in ds.iter().zip(&locs) {
            if !valid_domain(d) {
                cx.err(
                    *loc,
                    format!(
                        "invalid domain `{d}` in `authorized_domains` of {}",
                        obj.what
                    ),
                );
            }
        }
    }
    let switches = convert_switches(cx, obj);
    let ignore = obj.str_list(cx, "ignore", false).unwrap_or_default();
    let locs = obj.item_positions("ignore");
    for (pat, loc) in ignore.iter().zip(&locs) {
        if let Err(e) = globset::Glob::new(pat) {
            cx.err(
                *loc,
                format!(
                    "invalid glob pattern in `ignore` of {}: {}",
                    obj.what,
                    e.kind()
                ),
            );
        }
    }
    let max_deletes = obj.opt_u32(cx, "max_deletes");
    (domains, switches, ignore, max_deletes)
}

fn convert_app(cx: &mut Cx, mut obj: Obj, out: &mut FileOut) {
    let name = name_of(cx, &mut obj, "name", "app");
    if let (Some(n), Some(node)) = (&name, obj.get("name")) {
        out.app_decls.push((n.clone(), cx.loc(node.pos)));
    }
    let ty = match obj.get("type") {
        None => {
            cx.err(
                obj.node.pos,
                format!(
                    "{} is missing the required key `type` (one of {})",
                    obj.what,
                    APP_TYPES.join(", ")
                ),
            );
            return;
        }
        Some(node) => {
            obj.mark(cx, "type", node);
            let Some(t) = as_string(cx, node, &format!("`type` of {}", obj.what)) else {
                return;
            };
            if !APP_TYPES.contains(&t.as_str()) {
                let hint = match suggest(&t, APP_TYPES.iter().copied()) {
                    Some(s) => format!(" (did you mean `{s}`?)"),
                    None => String::new(),
                };
                cx.err(
                    node.pos,
                    format!(
                        "unknown app type `{t}` for {}{hint}; valid types: {}",
                        obj.what,
                        APP_TYPES.join(", ")
                    ),
                );
                return;
            }
            t
        }
    };
    let allowed = app_keys(&ty);
    for (k, _) in obj.entries {
        let key = k.key_text();
        if allowed.contains(&key) {
            continue;
        }
        let owners: Vec<&str> = APP_TYPES
            .iter()
            .copied()
            .filter(|t| *t != ty && app_keys(t).contains(&key))
            .collect();
        if !owners.is_empty() {
            cx.err(
                k.pos,
                format!(
                    "`{key}` is a key of {} apps, not valid on {} (type {ty})",
                    owners.join(" and "),
                    obj.what
                ),
            );
        } else {
            let hint = match (
                suggest(key, allowed.iter().copied()),
                suggest(key, SWITCH_KEYS.iter().copied()),
            ) {
                (Some(s), _) => format!("did you mean `{s}`?"),
                (None, Some(s)) => format!("did you mean `switches: {{ {s}: ... }}`?"),
                (None, None) => format!("valid keys for {ty} apps: {}", allowed.join(", ")),
            };
            cx.err(
                k.pos,
                format!("unknown key `{key}` in {} ({hint})", obj.what),
            );
        }
    }
    let app = match ty.as_str() {
        "office365" => convert_office365(cx, &mut obj, name.clone()),
        "active_directory" => convert_ad(cx, &mut obj, name.clone()),
        "ldap" => convert_ldap(cx, &mut obj, name.clone()),
        "google_workspace" => convert_google_workspace(cx, &mut obj, name.clone()),
        _ => convert_scim(cx, &mut obj, name.clone()),
    };
    if let (Some(app), Some(_)) = (app, name) {
        out.repo.apps.push(app);
        out.locs.apps.push(obj.into_loc(cx));
    }
}

fn convert_credentials(cx: &mut Cx, obj: &mut Obj) -> Option<Office365Credentials> {
    let mut c = obj.sub(cx, "credentials")?;
    c.check_keys(cx, CREDENTIAL_KEYS);
    let present: Vec<&str> = CREDENTIAL_KEYS
        .iter()
        .copied()
        .filter(|k| c.get(k).is_some())
        .collect();
    if present.len() != 1 {
        cx.err(
            c.node.pos,
            format!(
                "{} must have exactly one of {}",
                c.what,
                CREDENTIAL_KEYS.join(", ")
            ),
        );
        return None;
    }
    for key in ["client_secret", "federated_token", "certificate"] {
        if let Some(node) = c.get(key) {
            let dotted = match key {
                "client_secret" => "credentials.client_secret",
                "federated_token" => "credentials.federated_token",
                _ => "credentials.certificate",
            };
            obj.mark(cx, dotted, node);
        }
    }
    match present[0] {
        "client_secret" => c
            .opt_secret(cx, "client_secret")
            .map(Office365Credentials::ClientSecret),
        "federated_token" => c
            .opt_secret(cx, "federated_token")
            .map(Office365Credentials::FederatedToken),
        _ => {
            let mut cert = c.sub(cx, "certificate")?;
            cert.check_keys(cx, CERTIFICATE_KEYS);
            let cert_file = cert.req_str(cx, "cert_file");
            check_repo_path(cx, &cert, "cert_file", &cert_file, true);
            let key_file = cert.req_secret(cx, "key_file");
            for (key, dotted) in [
                ("cert_file", "credentials.certificate.cert_file"),
                ("key_file", "credentials.certificate.key_file"),
            ] {
                if let Some(node) = cert.get(key) {
                    obj.mark(cx, dotted, node);
                }
            }
            Some(Office365Credentials::Certificate(CertificateCredentials {
                cert_file: cert_file?,
                key_file: key_file?,
            }))
        }
    }
}

fn convert_office365(cx: &mut Cx, obj: &mut Obj, name: Option<String>) -> Option<App> {
    let manage_guests = obj.opt_bool(cx, "manage_guests").unwrap_or(false);
    let manage_role_assignable_groups = obj
        .opt_bool(cx, "manage_role_assignable_groups")
        .unwrap_or(false);
    let tenant = obj.opt_str(cx, "tenant");
    let client_id = obj.opt_str(cx, "client_id");
    let credentials = convert_credentials(cx, obj);
    let graph_url = obj.opt_str(cx, "graph_url");
    check_url(cx, obj, "graph_url", &graph_url, &["https", "http"]);
    check_endpoint(cx, obj, "graph_url", &graph_url, MICROSOFT_GRAPH_HOSTS);
    let login_url = obj.opt_str(cx, "login_url");
    check_url(cx, obj, "login_url", &login_url, &["https", "http"]);
    check_endpoint(cx, obj, "login_url", &login_url, MICROSOFT_LOGIN_HOSTS);
    let tls = convert_tls(cx, obj, TLS_KEYS);
    let sandbox = obj.opt_str(cx, "sandbox");
    let sandbox_seed = match obj.opt_str(cx, "sandbox_seed").as_deref() {
        None => None,
        Some("empty") => Some(SandboxSeed::Empty),
        Some("realistic") => Some(SandboxSeed::Realistic),
        Some(other) => {
            if let Some(node) = obj.get("sandbox_seed") {
                cx.err(
                    node.pos,
                    format!(
                        "unknown sandbox_seed `{other}` for {}; valid values: empty, realistic",
                        obj.what
                    ),
                );
            }
            None
        }
    };
    check_repo_path(cx, obj, "sandbox", &sandbox, false);
    let (authorized_domains, switches, ignore, max_deletes) = common_app_fields(cx, obj);
    let (joiner, leaver) = convert_lifecycle(cx, obj, &switches);
    if sandbox.is_none() {
        let missing: Vec<String> = ["tenant", "client_id", "credentials"]
            .into_iter()
            .filter(|k| obj.get(k).is_none())
            .map(|k| format!("`{k}`"))
            .collect();
        if !missing.is_empty() {
            cx.err(
                obj.node.pos,
                format!(
                    "{} needs {} (or `sandbox: PATH` for a local sandbox tenant)",
                    obj.what,
                    join_and(&missing)
                ),
            );
        }
    }
    let (attribute_map, on_create) = convert_mapping(cx, obj, "office365");
    Some(App::Office365(Office365App {
        joiner,
        leaver,
        attribute_map,
        on_create,
        name: name?,
        tenant,
        client_id,
        credentials,
        graph_url,
        login_url,
        tls,
        sandbox,
        sandbox_seed,
        authorized_domains,
        switches,
        ignore,
        max_deletes,
        manage_guests,
        manage_role_assignable_groups,
    }))
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn under_dn(child: &str, base: &str) -> bool {
    let norm = |s: &str| {
        s.split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let c = norm(child);
    let b = norm(base);
    c.len() >= b.len() && c[c.len() - b.len()..] == b[..]
}

fn convert_ad(cx: &mut Cx, obj: &mut Obj, name: Option<String>) -> Option<App> {
    let url = obj.req_str(cx, "url");
    check_url(cx, obj, "url", &url, &["ldap", "ldaps"]);
    let base_dn = obj.req_str(cx, "base_dn");
    let users_ou = obj.req_str(cx, "users_ou");
    let groups_ou = obj.req_str(cx, "groups_ou");
    if let Some(base) = &base_dn {
        for (key, value) in [("users_ou", &users_ou), ("groups_ou", &groups_ou)] {
            if let (Some(v), Some(node)) = (value, obj.get(key))
                && !under_dn(v, base)
            {
                cx.err(
                    node.pos,
                    format!("`{key}` of {} must lie under base_dn `{base}`", obj.what),
                );
            }
        }
    }
    let bind_dn = obj.req_str(cx, "bind_dn");
    let bind_password = obj.req_secret(cx, "bind_password");
    let starttls = obj.opt_bool(cx, "starttls");
    if starttls == Some(false)
        && let (Some(u), Some(node)) = (url.as_deref(), obj.get("starttls"))
        && let Ok(parsed) = url::Url::parse(u)
        && parsed.scheme() == "ldap"
        && !is_loopback(&parsed)
    {
        cx.err(
            node.pos,
            format!(
                "`starttls: false` with an ldap:// URL would send the bind password of {} in clear text; use ldaps:// or StartTLS (plain LDAP is accepted only for a loopback address)",
                obj.what
            ),
        );
    }
    let tls = convert_tls(cx, obj, TLS_KEYS);
    let (authorized_domains, switches, ignore, max_deletes) = common_app_fields(cx, obj);
    let (joiner, leaver) = convert_lifecycle(cx, obj, &switches);
    let (attribute_map, on_create) = convert_mapping(cx, obj, "active_directory");
    Some(App::ActiveDirectory(ActiveDirectoryApp {
        joiner,
        leaver,
        attribute_map,
        on_create,
        name: name?,
        url: url.unwrap_or_default(),
        base_dn: base_dn.unwrap_or_default(),
        users_ou: users_ou.unwrap_or_default(),
        groups_ou: groups_ou.unwrap_or_default(),
        bind_dn: bind_dn.unwrap_or_default(),
        bind_password: bind_password?,
        starttls,
        tls,
        authorized_domains,
        switches,
        ignore,
        max_deletes,
    }))
}

/// The DN settings and transport rules an ldap app shares with active_directory:
/// `users_ou` and `groups_ou` under `base_dn`, and no bind password in clear text but
/// on loopback.
fn check_ldap_transport(
    cx: &mut Cx,
    obj: &Obj,
    url: Option<&str>,
    base_dn: Option<&String>,
    ous: [(&str, Option<&String>); 2],
    starttls: Option<bool>,
) {
    if let Some(base) = base_dn {
        for (key, value) in ous {
            if let (Some(v), Some(node)) = (value, obj.get(key))
                && !under_dn(v, base)
            {
                cx.err(
                    node.pos,
                    format!("`{key}` of {} must lie under base_dn `{base}`", obj.what),
                );
            }
        }
    }
    if starttls == Some(false)
        && let (Some(u), Some(node)) = (url, obj.get("starttls"))
        && let Ok(parsed) = url::Url::parse(u)
        && parsed.scheme() == "ldap"
        && !is_loopback(&parsed)
    {
        cx.err(
            node.pos,
            format!(
                "`starttls: false` with an ldap:// URL would send the bind password of {} in clear text; use ldaps:// or StartTLS (plain LDAP is accepted only for a loopback address)",
                obj.what
            ),
        );
    }
}

/// An LDAP attribute name (RFC 4512 `descr`): a letter, then letters, digits, hyphens.
fn valid_ldap_attr(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn convert_ldap(cx: &mut Cx, obj: &mut Obj, name: Option<String>) -> Option<App> {
    let url = obj.req_str(cx, "url");
    check_url(cx, obj, "url", &url, &["ldap", "ldaps"]);
    let base_dn = obj.req_str(cx, "base_dn");
    let users_ou = obj.req_str(cx, "users_ou");
    let groups_ou = obj.req_str(cx, "groups_ou");
    let bind_dn = obj.req_str(cx, "bind_dn");
    let bind_password = obj.req_secret(cx, "bind_password");
    let starttls = obj.opt_bool(cx, "starttls");
    check_ldap_transport(
        cx,
        obj,
        url.as_deref(),
        base_dn.as_ref(),
        [
            ("users_ou", users_ou.as_ref()),
            ("groups_ou", groups_ou.as_ref()),
        ],
        starttls,
    );
    let tls = convert_tls(cx, obj, TLS_KEYS);
    let user_object_classes = obj
        .str_list(cx, "user_object_classes", false)
        .unwrap_or_default();
    for (class, loc) in user_object_classes
        .iter()
        .zip(obj.item_positions("user_object_classes"))
    {
        if !valid_ldap_attr(class) {
            cx.err(
                loc,
                format!(
                    "`{class}` in `user_object_classes` of {} is not an object class name",
                    obj.what
                ),
            );
        }
    }
    let user_rdn = obj.opt_str(cx, "user_rdn");
    if let (Some(rdn), Some(node)) = (&user_rdn, obj.get("user_rdn"))
        && !valid_ldap_attr(rdn)
    {
        cx.err(
            node.pos,
            format!(
                "`user_rdn` of {} must be an attribute name, such as uid or cn",
                obj.what
            ),
        );
    }
    let group_object_class = match obj.opt_str(cx, "group_object_class") {
        None => None,
        Some(c) => {
            let found = LDAP_GROUP_CLASSES
                .iter()
                .position(|k| k.eq_ignore_ascii_case(&c));
            match found {
                Some(0) => Some(LdapGroupClass::GroupOfNames),
                Some(1) => Some(LdapGroupClass::GroupOfUniqueNames),
                Some(_) => Some(LdapGroupClass::PosixGroup),
                None => {
                    if let Some(node) = obj.get("group_object_class") {
                        cx.err(
                            node.pos,
                            format!(
                                "unknown group_object_class `{c}` for {}; valid values: {}",
                                obj.what,
                                LDAP_GROUP_CLASSES.join(", ")
                            ),
                        );
                    }
                    None
                }
            }
        }
    };
    let posix = match obj.sub(cx, "posix") {
        None => None,
        Some(mut p) => {
            p.check_keys(cx, LDAP_POSIX_KEYS);
            let uid = p.opt_u32(cx, "uid_number_start");
            let gid = p.opt_u32(cx, "gid_number");
            for (key, v) in [("uid_number_start", &uid), ("gid_number", &gid)] {
                if v.is_none() && p.get(key).is_none() {
                    p.missing(cx, key);
                }
            }
            let home_directory = p.opt_str(cx, "home_directory");
            if let (Some(t), Some(node)) = (&home_directory, p.get("home_directory"))
                && let Err(e) = crate::mapping::Template::parse(t)
            {
                cx.err(
                    node.pos,
                    format!("`posix.home_directory` of {}: {e}", obj.what),
                );
            }
            let login_shell = p.opt_str(cx, "login_shell");
            match (uid, gid) {
                (Some(uid_number_start), Some(gid_number)) => Some(LdapPosix {
                    uid_number_start,
                    gid_number,
                    home_directory,
                    login_shell,
                }),
                _ => None,
            }
        }
    };
    if group_object_class == Some(LdapGroupClass::PosixGroup)
        && posix.is_none()
        && let Some(node) = obj.get("group_object_class")
    {
        cx.err(
            node.pos,
            format!(
                "`group_object_class: posixGroup` of {} needs `posix: {{ uid_number_start, gid_number }}` (new groups get a gidNumber)",
                obj.what
            ),
        );
    }
    let disabled = match obj.sub(cx, "disabled") {
        None => None,
        Some(mut d) => {
            d.check_keys(cx, LDAP_DISABLED_KEYS);
            let attribute = d.req_str(cx, "attribute");
            if let (Some(a), Some(node)) = (&attribute, d.get("attribute"))
                && !valid_ldap_attr(a)
            {
                cx.err(
                    node.pos,
                    format!(
                        "`disabled.attribute` of {} must be an attribute name",
                        obj.what
                    ),
                );
            }
            let value = d.req_str(cx, "value");
            match (attribute, value) {
                (Some(attribute), Some(value)) => Some(LdapDisabled { attribute, value }),
                _ => None,
            }
        }
    };
    let (authorized_domains, switches, ignore, max_deletes) = common_app_fields(cx, obj);
    let (joiner, leaver) = convert_lifecycle(cx, obj, &switches);
    let (attribute_map, on_create) = convert_mapping(cx, obj, "ldap");
    Some(App::Ldap(LdapApp {
        joiner,
        leaver,
        attribute_map,
        on_create,
        name: name?,
        url: url.unwrap_or_default(),
        base_dn: base_dn.unwrap_or_default(),
        users_ou: users_ou.unwrap_or_default(),
        groups_ou: groups_ou.unwrap_or_default(),
        bind_dn: bind_dn.unwrap_or_default(),
        bind_password: bind_password?,
        starttls,
        tls,
        authorized_domains,
        switches,
        ignore,
        max_deletes,
        user_object_classes,
        user_rdn,
        group_object_class,
        posix,
        disabled,
    }))
}

fn convert_scim(cx: &mut Cx, obj: &mut Obj, name: Option<String>) -> Option<App> {
    let url = obj.req_str(cx, "url");
    check_url(cx, obj, "url", &url, &["https", "http"]);
    check_endpoint(cx, obj, "url", &url, &[]);
    let token = obj.req_secret(cx, "token");
    let tls = convert_tls(cx, obj, TLS_KEYS);
    let (authorized_domains, switches, ignore, max_deletes) = common_app_fields(cx, obj);
    let (joiner, leaver) = convert_lifecycle(cx, obj, &switches);
    let (attribute_map, on_create) = convert_mapping(cx, obj, "scim");
    Some(App::Scim(ScimApp {
        joiner,
        leaver,
        attribute_map,
        on_create,
        name: name?,
        url: url.unwrap_or_default(),
        token: token?,
        tls,
        authorized_domains,
        switches,
        ignore,
        max_deletes,
    }))
}

/// Google's documented Directory API and OAuth 2.0 token hosts.
const GOOGLE_API_HOSTS: &[&str] = &["admin.googleapis.com", "www.googleapis.com"];
const GOOGLE_TOKEN_HOSTS: &[&str] = &["oauth2.googleapis.com", "accounts.google.com"];

fn convert_google_workspace(cx: &mut Cx, obj: &mut Obj, name: Option<String>) -> Option<App> {
    let domain = obj.req_str(cx, "domain");
    if let (Some(d), Some(node)) = (&domain, obj.get("domain"))
        && !valid_domain(d)
    {
        cx.err(
            node.pos,
            format!(
                "`domain` of {} must be a domain name, found `{d}`",
                obj.what
            ),
        );
    }
    let customer = obj.opt_str(cx, "customer");
    if let (Some(c), Some(node)) = (&customer, obj.get("customer"))
        && (c.trim().is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'))
    {
        cx.err(
            node.pos,
            format!(
                "`customer` of {} must be a customer id (letters, digits; `my_customer` for the admin's own account), found `{c}`",
                obj.what
            ),
        );
    }
    // A sandbox account needs neither credentials nor a subject.
    let sandbox = obj.opt_str(cx, "sandbox");
    check_repo_path(cx, obj, "sandbox", &sandbox, false);
    let local = sandbox.is_some();
    let credentials = match obj.sub(cx, "credentials") {
        Some(mut c) => {
            c.check_keys(cx, GOOGLE_CREDENTIAL_KEYS);
            if let Some(node) = c.get("service_account_key") {
                obj.mark(cx, "credentials.service_account_key", node);
            }
            c.req_secret(cx, "service_account_key")
                .map(|service_account_key| GoogleCredentials {
                    service_account_key,
                })
        }
        None => {
            if obj.get("credentials").is_none() && !local {
                obj.missing(cx, "credentials");
            }
            None
        }
    };
    let subject = if local {
        obj.opt_str(cx, "subject")
    } else {
        obj.req_str(cx, "subject")
    };
    if let (Some(s), Some(node)) = (&subject, obj.get("subject"))
        && !valid_email(s)
    {
        cx.err(
            node.pos,
            format!(
                "`subject` of {} must be the email of the admin the service account acts as, found `{s}`",
                obj.what
            ),
        );
    }
    let api_url = obj.opt_str(cx, "api_url");
    check_url(cx, obj, "api_url", &api_url, &["https", "http"]);
    check_vendor_endpoint(
        cx,
        obj,
        "api_url",
        &api_url,
        GOOGLE_API_HOSTS,
        "a Google Directory API endpoint (",
    );
    let token_url = obj.opt_str(cx, "token_url");
    check_url(cx, obj, "token_url", &token_url, &["https", "http"]);
    check_vendor_endpoint(
        cx,
        obj,
        "token_url",
        &token_url,
        GOOGLE_TOKEN_HOSTS,
        "a Google OAuth 2.0 token endpoint (",
    );
    let tls = convert_tls(cx, obj, TLS_KEYS);
    let org_unit = obj.opt_str(cx, "org_unit");
    if let (Some(ou), Some(node)) = (&org_unit, obj.get("org_unit"))
        && (!ou.starts_with('/') || ou.len() > 1 && ou.ends_with('/') || ou.contains("//"))
    {
        cx.err(
            node.pos,
            format!(
                "`org_unit` of {} must be an organizational unit path such as `/Staff/Sales` (starting with `/`, no trailing `/`), found `{ou}`",
                obj.what
            ),
        );
    }
    let (authorized_domains, switches, ignore, max_deletes) = common_app_fields(cx, obj);
    let (joiner, leaver) = convert_lifecycle(cx, obj, &switches);
    let (attribute_map, on_create) = convert_mapping(cx, obj, "google_workspace");
    Some(App::GoogleWorkspace(GoogleWorkspaceApp {
        joiner,
        leaver,
        attribute_map,
        on_create,
        name: name?,
        domain: domain?,
        customer,
        credentials: if local {
            credentials
        } else {
            Some(credentials?)
        },
        subject: if local { subject } else { Some(subject?) },
        api_url,
        token_url,
        tls,
        sandbox,
        org_unit,
        authorized_domains,
        switches,
        ignore,
        max_deletes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(valid_email("alice@contoso.com"));
        assert!(valid_email("a.b+c@sub.example.org"));
        assert!(!valid_email("alice"));
        assert!(!valid_email("alice@localhost"));
        assert!(!valid_email("a@@b.com"));
        assert!(!valid_email("a b@c.com"));
        assert!(!valid_email(".a@c.com"));
        assert!(!valid_email("a@-c.com"));
    }

    #[test]
    fn dates() {
        assert!(valid_date("2026-02-28"));
        assert!(!valid_date("2026-02-30"));
        assert!(!valid_date("26-02-01"));
        assert!(!valid_date("2026-2-1"));
    }

    #[test]
    fn skus() {
        assert!(valid_sku("ENTERPRISEPACK"));
        assert!(valid_sku("SPE_E3"));
        assert!(!valid_sku("Office 365 E3"));
        assert!(!valid_sku(""));
        assert!(!valid_sku("_X"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("emial", USER_KEYS.iter().copied()), Some("email"));
        assert_eq!(
            suggest("firstname", USER_KEYS.iter().copied()),
            Some("first_name")
        );
        assert_eq!(suggest("zzzz", USER_KEYS.iter().copied()), None);
    }

    #[test]
    fn dn_containment() {
        assert!(under_dn(
            "OU=Users,DC=corp,DC=example",
            "DC=corp,DC=example"
        ));
        assert!(under_dn(
            "ou=Users, dc=Corp,dc=example",
            "DC=corp,DC=example"
        ));
        assert!(!under_dn(
            "OU=Users,DC=other,DC=example",
            "DC=corp,DC=example"
        ));
    }
}
