//! SCIM attribute paths (RFC 7644 §3.10 attribute notation and the `valuePath` of
//! §3.5.2), the subset roster's mapping targets use: `title`, `name.middleName`,
//! `phoneNumbers[type eq "work"].value`, and extension attributes by full URN such
//! as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
//!
//! One parsed path serves every use, so that what roster reads is what it writes:
//! the `attributes=` parameter of a list, the value read from a resource, the PATCH
//! operation's `path`, and the edit of a whole resource for PUT. Pure.

use serde_json::{Map, Value};

use crate::mapping::targets::ENTERPRISE;

/// A parsed attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema extension the attribute belongs to; `None` for the core schema.
    pub schema: Option<String>,
    /// The top-level attribute (`name`, `phoneNumbers`, `employeeNumber`).
    pub attr: String,
    /// The `type` a value of a multi-valued attribute is selected by (`work`).
    pub ty: Option<String>,
    /// The sub-attribute (`middleName`, `value`, `locality`).
    pub sub: Option<String>,
}

/// The text of a path that roster cannot handle, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_name(s: &str) -> bool {
    // RFC 7643 §2.1 ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA;
    // `$ref` is the one reserved name with a `$`.
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl AttrPath {
    /// A core attribute (`active`, `userName`).
    pub fn core(attr: &str) -> AttrPath {
        AttrPath {
            schema: None,
            attr: attr.to_string(),
            ty: None,
            sub: None,
        }
    }

    /// The enterprise extension's `manager` (its `value` is the manager's id).
    pub fn manager() -> AttrPath {
        AttrPath {
            schema: Some(ENTERPRISE.to_string()),
            attr: "manager".to_string(),
            ty: None,
            sub: None,
        }
    }

    /// Parses `[URN:]attr[[type eq "T"]][.sub]`.
    pub fn parse(text: &str) -> Result<AttrPath, PathError> {
        let bad =
            |why: &str| PathError(format!("`{text}` is not a SCIM path roster can use: {why}"));
        let s = text.trim();
        let (schema, rest) = if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            // The attribute follows the URN's last colon; a valuePath filter may hold
            // colons of its own, so look before any `[`.
            let head = s.split('[').next().unwrap_or(s);
            match head.rfind(':') {
                Some(i) if i + 1 < s.len() => (Some(s[..i].to_string()), &s[i + 1..]),
                _ => return Err(bad("no attribute after the schema URN")),
            }
        } else {
            (None, s)
        };
        let (attr, ty, after) = match rest.find('[') {
            Some(open) => {
                let close = rest[open..]
                    .find(']')
                    .map(|c| open + c)
                    .ok_or_else(|| bad("an unclosed `[`"))?;
                let filter = rest[open + 1..close].trim();
                let ty = parse_type_filter(filter).ok_or_else(|| {
                    bad("the only value filter roster understands is `type eq \"…\"`")
                })?;
                (&rest[..open], Some(ty), &rest[close + 1..])
            }
            None => match rest.find('.') {
                Some(dot) => (&rest[..dot], None, &rest[dot..]),
                None => (rest, None, ""),
            },
        };
        if !is_name(attr) {
            return Err(bad("not an attribute name"));
        }
        let sub = match after {
            "" => None,
            s => match s.strip_prefix('.') {
                Some(sub) if is_name(sub) => Some(sub.to_string()),
                _ => return Err(bad("a sub-attribute must follow as `.name`")),
            },
        };
        if ty.is_some() && sub.is_none() {
            return Err(bad("a filtered path must name a sub-attribute (`….value`)"));
        }
        Ok(AttrPath {
            schema,
            attr: attr.to_string(),
            ty,
            sub,
        })
    }

    /// The path as PATCH operations and `attributes=` spell it.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.schema {
            s.push_str(u);
            s.push(':');
        }
        s.push_str(&self.attr);
        if let Some(t) = &self.ty {
            s.push_str(&format!("[type eq {}]", quote(t)));
        }
        if let Some(sub) = &self.sub {
            s.push('.');
            s.push_str(sub);
        }
        s
    }

    /// The top-level attribute with its schema (`urn:…:User:manager`, `phoneNumbers`):
    /// what `attributes=` asks for (it takes no filters) and what a whole
    /// multi-valued attribute is replaced at.
    pub fn attribute(&self) -> String {
        match &self.schema {
            Some(u) => format!("{u}:{}", self.attr),
            None => self.attr.clone(),
        }
    }

    /// The path of the whole top-level attribute (no filter, no sub-attribute).
    pub fn whole(&self) -> AttrPath {
        AttrPath {
            schema: self.schema.clone(),
            attr: self.attr.clone(),
            ty: None,
            sub: None,
        }
    }

    /// The top-level attribute's value in a resource (whatever its JSON type).
    pub fn top<'v>(&self, resource: &'v Value) -> Option<&'v Value> {
        get_ci(self.container(resource)?, &self.attr)
    }

    /// Whether the path selects a value of a multi-valued attribute by type.
    pub fn is_filtered(&self) -> bool {
        self.ty.is_some()
    }

    /// The PATCH `remove` path. Removing the `value` of a typed email or phone number
    /// removes that entry: an entry without its value means nothing.
    pub fn remove_path(&self) -> String {
        match (&self.ty, self.sub.as_deref()) {
            (Some(t), Some("value")) => {
                let mut s = self.attribute();
                s.push_str(&format!("[type eq {}]", quote(t)));
                s
            }
            _ => self.text(),
        }
    }

    /// The object holding the top-level attribute: the resource, or its extension.
    fn container<'v>(&self, resource: &'v Value) -> Option<&'v Value> {
        match &self.schema {
            None => Some(resource),
            Some(u) => get_ci(resource, u),
        }
    }

    /// The value at this path as text (strings, numbers and booleans; empty is `None`).
    pub fn read(&self, resource: &Value) -> Option<String> {
        let top = self.top(resource)?;
        let leaf = match (&self.ty, &self.sub) {
            (Some(t), Some(sub)) => {
                let list = top.as_array()?;
                let i = element(list, &self.attr, t)?;
                get_ci(&list[i], sub)?
            }
            (None, Some(sub)) => get_ci(top, sub)?,
            (_, None) => top,
        };
        scalar_text(leaf)
    }

    /// Sets (`Some`) or removes (`None`) the value at this path in a whole resource,
    /// as a PUT sends it. A value in an extension adds the extension's URN to
    /// `schemas`; an extension left empty is dropped with its URN. Removing an entry's
    /// `value` (or its last sub-attribute) removes the entry.
    pub fn edit(&self, resource: &mut Value, value: Option<&Value>) {
        let Some(root) = resource.as_object_mut() else {
            return;
        };
        match &self.schema {
            None => edit_in(root, self, value),
            Some(urn) => {
                let key = key_ci(root, urn).unwrap_or_else(|| urn.clone());
                if value.is_some() {
                    add_schema(root, urn);
                }
                let ext = root
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !ext.is_object() {
                    *ext = Value::Object(Map::new());
                }
                if let Some(obj) = ext.as_object_mut() {
                    edit_in(obj, self, value);
                }
                if root
                    .get(&key)
                    .and_then(Value::as_object)
                    .is_some_and(Map::is_empty)
                {
                    root.remove(&key);
                    if let Some(list) = root.get_mut("schemas").and_then(Value::as_array_mut) {
                        list.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
                    }
                }
            }
        }
    }
}

/// `type eq "work"` → `work`.
fn parse_type_filter(filter: &str) -> Option<String> {
    let mut words = filter.splitn(3, ' ');
    let attr = words.next()?;
    let op = words.next()?;
    let lit = words.next()?.trim();
    if !attr.eq_ignore_ascii_case("type") || !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || inner.contains(['"', '\\']) {
        return None;
    }
    Some(inner.to_string())
}

fn quote(s: &str) -> String {
    super::http::filter_literal(s)
}

/// A member of an object by name; SCIM attribute names are case-insensitive
/// (RFC 7643 §2.1), so an exact match wins, else any spelling.
fn get_ci<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The key under which `name` is stored in `obj`, whatever its spelling.
fn key_ci(obj: &Map<String, Value>, name: &str) -> Option<String> {
    if obj.contains_key(name) {
        return Some(name.to_string());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn scalar_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn type_of(v: &Value) -> Option<&str> {
    get_ci(v, "type").and_then(Value::as_str)
}

fn is_primary(v: &Value) -> bool {
    get_ci(v, "primary").and_then(Value::as_bool) == Some(true)
}

/// The entry of a multi-valued attribute that a `[type eq "T"]` path means: the first
/// one of that type (compared case-insensitively: `type` is not caseExact in RFC 7643
/// §4.1.2). For `emails`, which roster has always read as the primary address, an
/// untyped entry stands in when none is typed: the primary one, else the first.
pub fn element(list: &[Value], attr: &str, ty: &str) -> Option<usize> {
    if let Some(i) = list
        .iter()
        .position(|v| type_of(v).is_some_and(|t| t.eq_ignore_ascii_case(ty)))
    {
        return Some(i);
    }
    if !attr.eq_ignore_ascii_case("emails") {
        return None;
    }
    let untyped = |v: &&Value| type_of(v).is_none();
    list.iter()
        .position(|v| untyped(&v) && is_primary(v))
        .or_else(|| list.iter().position(|v| untyped(&v)))
}

fn add_schema(root: &mut Map<String, Value>, urn: &str) {
    let list = root
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Some(list) = list.as_array_mut()
        && !list
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    {
        list.push(Value::String(urn.to_string()));
    }
}

/// The edit of [`AttrPath::edit`] inside the object that holds the top-level attribute.
fn edit_in(obj: &mut Map<String, Value>, p: &AttrPath, value: Option<&Value>) {
    let key = key_ci(obj, &p.attr).unwrap_or_else(|| p.attr.clone());
    match (&p.ty, &p.sub) {
        (None, None) => match value {
            Some(v) => {
                obj.insert(key, v.clone());
            }
            None => {
                obj.remove(&key);
            }
        },
        (None, Some(sub)) => {
            let parent = obj
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            if let Some(inner) = parent.as_object_mut() {
                let sub_key = key_ci(inner, sub).unwrap_or_else(|| sub.clone());
                match value {
                    Some(v) => {
                        inner.insert(sub_key, v.clone());
                    }
                    None => {
                        inner.remove(&sub_key);
                    }
                }
                if inner.is_empty() {
                    obj.remove(&key);
                }
            }
        }
        (Some(ty), sub) => {
            let sub = sub.as_deref().unwrap_or("value");
            let list = obj
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            let Some(list) = list.as_array_mut() else {
                return;
            };
            let found = element(list, &p.attr, ty);
            match (found, value) {
                (Some(i), Some(v)) => {
                    if let Some(entry) = list[i].as_object_mut() {
                        let sub_key = key_ci(entry, sub).unwrap_or_else(|| sub.to_string());
                        entry.insert(sub_key, v.clone());
                        if !entry.keys().any(|k| k.eq_ignore_ascii_case("type")) {
                            entry.insert("type".into(), Value::String(ty.clone()));
                        }
                    } else {
                        list[i] = new_entry(ty, sub, v, false);
                    }
                }
                (None, Some(v)) => {
                    // An email added where none is primary becomes the primary one.
                    let primary =
                        p.attr.eq_ignore_ascii_case("emails") && !list.iter().any(is_primary);
                    list.push(new_entry(ty, sub, v, primary));
                }
                (Some(i), None) => {
                    let emptied = match list[i].as_object_mut() {
                        Some(entry) if !sub.eq_ignore_ascii_case("value") => {
                            if let Some(k) = key_ci(entry, sub) {
                                entry.remove(&k);
                            }
                            !entry.keys().any(|k| {
                                !k.eq_ignore_ascii_case("type")
                                    && !k.eq_ignore_ascii_case("primary")
                            })
                        }
                        _ => true,
                    };
                    if emptied {
                        list.remove(i);
                    }
                }
                (None, None) => {}
            }
            if list.is_empty() {
                obj.remove(&key);
            }
        }
    }
}

fn new_entry(ty: &str, sub: &str, v: &Value, primary: bool) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(ty.to_string()));
    m.insert(sub.to_string(), v.clone());
    if primary {
        m.insert("primary".into(), Value::Bool(true));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_scim_mapping_target_parses_and_prints_back() {
        for t in crate::mapping::targets::SCIM {
            let path = p(t.name);
            assert_eq!(path.text(), t.name, "{path:?}");
        }
        let e = p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber");
        assert_eq!(e.schema.as_deref(), Some(ENTERPRISE));
        assert_eq!(e.attr, "employeeNumber");
        assert_eq!(e.attribute(), format!("{ENTERPRISE}:employeeNumber"));
        let a = p("addresses[type eq \"work\"].locality");
        assert_eq!(
            (a.attr.as_str(), a.ty.as_deref(), a.sub.as_deref()),
            ("addresses", Some("work"), Some("locality"))
        );
        assert_eq!(a.attribute(), "addresses");
        assert_eq!(a.remove_path(), "addresses[type eq \"work\"].locality");
        assert_eq!(
            p("phoneNumbers[type eq \"work\"].value").remove_path(),
            "phoneNumbers[type eq \"work\"]"
        );
        assert_eq!(p("name.middleName").sub.as_deref(), Some("middleName"));
        assert_eq!(AttrPath::manager().text(), format!("{ENTERPRISE}:manager"));
    }

    #[test]
    fn paths_roster_cannot_use_are_refused_with_the_reason() {
        for bad in [
            "",
            "urn:x:",
            "emails[type eq \"work\"",
            "emails[value co \"x\"].value",
            "emails[type eq \"work\"]",
            "name.",
            "na me",
            "1st",
        ] {
            let err = AttrPath::parse(bad).unwrap_err();
            assert!(err.0.contains("not a SCIM path"), "{bad}: {err}");
        }
    }

    #[test]
    fn values_are_read_by_path_and_type() {
        let u = json!({
            "title": "CTO", "name": {"middleName": " Q "},
            "phoneNumbers": [{"type": "mobile", "value": "1"}, {"type": "Work", "value": "2"}],
            "addresses": [{"type": "work", "locality": "Paris"}],
            "emails": [{"value": "a@x"}, {"value": "b@x", "primary": true}],
            ENTERPRISE: {"employeeNumber": 7, "manager": {"value": "m1"}}
        });
        assert_eq!(p("title").read(&u).as_deref(), Some("CTO"));
        assert_eq!(p("name.middleName").read(&u).as_deref(), Some("Q"));
        assert_eq!(
            p("phoneNumbers[type eq \"work\"].value")
                .read(&u)
                .as_deref(),
            Some("2")
        );
        assert_eq!(
            p("phoneNumbers[type eq \"mobile\"].value")
                .read(&u)
                .as_deref(),
            Some("1")
        );
        assert_eq!(p("addresses[type eq \"work\"].region").read(&u), None);
        assert_eq!(
            p("addresses[type eq \"work\"].locality")
                .read(&u)
                .as_deref(),
            Some("Paris")
        );
        // No typed email: the untyped primary one.
        assert_eq!(
            p("emails[type eq \"work\"].value").read(&u).as_deref(),
            Some("b@x")
        );
        let typed = json!({"emails": [{"value": "h@x", "type": "home", "primary": true}]});
        assert_eq!(p("emails[type eq \"work\"].value").read(&typed), None);
        let e = format!("{ENTERPRISE}:employeeNumber");
        assert_eq!(p(&e).read(&u).as_deref(), Some("7"));
        let m = AttrPath {
            sub: Some("value".into()),
            ..AttrPath::manager()
        };
        assert_eq!(m.read(&u).as_deref(), Some("m1"));
        assert_eq!(p("nickName").read(&u), None);
    }

    #[test]
    fn whole_resource_edits_keep_what_they_do_not_touch() {
        let mut u = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "emails": [{"value": "h@x", "type": "home"}],
            "phoneNumbers": [{"type": "work", "value": "1"}],
            "addresses": [{"type": "work", "locality": "Paris", "region": "IDF"}],
        });
        p("emails[type eq \"work\"].value").edit(&mut u, Some(&json!("w@x")));
        p("phoneNumbers[type eq \"work\"].value").edit(&mut u, None);
        p("addresses[type eq \"work\"].locality").edit(&mut u, None);
        p("name.middleName").edit(&mut u, Some(&json!("Q")));
        let e = p(&format!("{ENTERPRISE}:employeeNumber"));
        e.edit(&mut u, Some(&json!("42")));
        assert_eq!(
            u,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "emails": [{"value": "h@x", "type": "home"},
                           {"type": "work", "value": "w@x", "primary": true}],
                "addresses": [{"type": "work", "region": "IDF"}],
                "name": {"middleName": "Q"},
                ENTERPRISE: {"employeeNumber": "42"},
            })
        );
        e.edit(&mut u, None);
        p("addresses[type eq \"work\"].region").edit(&mut u, None);
        assert!(u.get(ENTERPRISE).is_none());
        assert!(u.get("addresses").is_none(), "{u}");
        assert_eq!(
            u["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
        // An untyped primary email is the one a work address replaces.
        let mut v = json!({"emails": [{"value": "a@x", "primary": true}]});
        p("emails[type eq \"work\"].value").edit(&mut v, Some(&json!("b@x")));
        assert_eq!(
            v["emails"],
            json!([{"value": "b@x", "primary": true, "type": "work"}])
        );
        // Not an object: nothing happens, nothing panics.
        let mut s = json!("x");
        e.edit(&mut s, Some(&json!("1")));
        assert_eq!(s, json!("x"));
    }
}
