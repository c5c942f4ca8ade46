//! Where the mapped targets of a google_workspace app live in a Directory API User
//! resource, and how to read and write them:
//!
//! - `name.givenName`: a member of a nested object;
//! - `organizations.title`: a member of the user's primary organization (the entry
//!   with `primary: true`, else the first; created when written);
//! - `phones[type eq "mobile"].value`: the value of the typed entry of an array;
//! - `recoveryEmail`: a top-level string.
//!
//! Arrays are written whole (the Directory API replaces an array on PATCH), edited
//! from the resource as read, so that entries roster does not manage are kept.

use serde_json::{Map, Value, json};

/// Arrays whose primary entry holds the mapped members.
const PRIMARY_ARRAYS: &[&str] = &["organizations"];

/// The external id type of roster's anchor (the username), a `custom` entry.
pub const ANCHOR_TYPE: &str = "roster";

/// A parsed target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    /// A top-level member.
    Top(String),
    /// A member of a nested object (`name.givenName`).
    Member(String, String),
    /// A member of an array's primary entry (`organizations.title`).
    Primary(String, String),
    /// A member of the array entry of a type (`phones[type eq "mobile"].value`).
    Typed {
        array: String,
        kind: String,
        member: String,
    },
}

impl FieldPath {
    pub fn parse(target: &str) -> Result<FieldPath, String> {
        if let Some((head, rest)) = target.split_once('[') {
            let (filter, member) = rest
                .split_once("].")
                .ok_or_else(|| format!("`{target}`: expected `ARRAY[type eq \"T\"].MEMBER`"))?;
            let kind = filter
                .strip_prefix("type eq \"")
                .and_then(|f| f.strip_suffix('"'))
                .ok_or_else(|| format!("`{target}`: only `[type eq \"T\"]` filters are known"))?;
            return Ok(FieldPath::Typed {
                array: head.to_string(),
                kind: kind.to_string(),
                member: member.to_string(),
            });
        }
        match target.split_once('.') {
            Some((a, m)) if PRIMARY_ARRAYS.contains(&a) => {
                Ok(FieldPath::Primary(a.to_string(), m.to_string()))
            }
            Some((a, m)) => Ok(FieldPath::Member(a.to_string(), m.to_string())),
            None => Ok(FieldPath::Top(target.to_string())),
        }
    }

    /// The top-level member the path lives in (for `fields=` and PATCH bodies).
    pub fn top(&self) -> &str {
        match self {
            FieldPath::Top(t) => t,
            FieldPath::Member(a, _) | FieldPath::Primary(a, _) => a,
            FieldPath::Typed { array, .. } => array,
        }
    }

    /// Whether writing the path replaces an array (so the resource must be read first).
    pub fn is_array(&self) -> bool {
        matches!(self, FieldPath::Primary(..) | FieldPath::Typed { .. })
    }

    /// The value at the path, trimmed; empty is `None`.
    pub fn read(&self, user: &Value) -> Option<String> {
        let v = match self {
            FieldPath::Top(t) => user.get(t),
            FieldPath::Member(a, m) => user.get(a).and_then(|o| o.get(m)),
            FieldPath::Primary(a, m) => primary(user.get(a)?.as_array()?).and_then(|e| e.get(m)),
            FieldPath::Typed {
                array,
                kind,
                member,
            } => user
                .get(array)?
                .as_array()?
                .iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some(kind))
                .and_then(|e| e.get(member)),
        }?;
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Sets (`Some`) or clears (`None`) the value at the path in `user`, creating what
    /// is missing; a typed entry whose value is cleared is removed.
    pub fn write(&self, user: &mut Value, value: Option<&str>) {
        if !user.is_object() {
            *user = Value::Object(Map::new());
        }
        let obj = user.as_object_mut().expect("an object");
        let val = |v: &str| Value::String(v.to_string());
        match self {
            FieldPath::Top(t) => {
                obj.insert(t.clone(), value.map_or(Value::Null, val));
            }
            FieldPath::Member(a, m) => {
                let o = obj.entry(a.clone()).or_insert_with(|| json!({}));
                if !o.is_object() {
                    *o = json!({});
                }
                let o = o.as_object_mut().expect("an object");
                match value {
                    Some(v) => {
                        o.insert(m.clone(), val(v));
                    }
                    None => {
                        o.remove(m);
                    }
                }
            }
            FieldPath::Primary(a, m) => {
                let arr = array_mut(obj, a);
                let i = match arr
                    .iter()
                    .position(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
                {
                    Some(i) => i,
                    None if !arr.is_empty() => 0,
                    None if value.is_none() => return,
                    None => {
                        arr.push(json!({"primary": true}));
                        0
                    }
                };
                if let Some(e) = arr[i].as_object_mut() {
                    match value {
                        Some(v) => {
                            e.insert(m.clone(), val(v));
                        }
                        None => {
                            e.remove(m);
                        }
                    }
                }
            }
            FieldPath::Typed {
                array,
                kind,
                member,
            } => {
                let arr = array_mut(obj, array);
                let at = arr
                    .iter()
                    .position(|e| e.get("type").and_then(Value::as_str) == Some(kind));
                match (at, value) {
                    (Some(i), Some(v)) => {
                        if let Some(e) = arr[i].as_object_mut() {
                            e.insert(member.clone(), val(v));
                        }
                    }
                    (Some(i), None) => {
                        arr.remove(i);
                    }
                    (None, Some(v)) => arr.push(json!({"type": kind, member.clone(): v})),
                    (None, None) => {}
                }
            }
        }
    }
}

fn primary(arr: &[Value]) -> Option<&Value> {
    arr.iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| arr.first())
}

fn array_mut<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = obj.entry(key.to_string()).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("an array")
}

/// The username roster's anchor carries (`externalIds` entry `custom` / `roster`).
pub fn anchor(user: &Value) -> Option<String> {
    user.get("externalIds")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("type").and_then(Value::as_str) == Some("custom")
                && e.get("customType").and_then(Value::as_str) == Some(ANCHOR_TYPE)
        })
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Sets roster's anchor in `user`'s `externalIds`, keeping the other entries.
pub fn set_anchor(user: &mut Value, username: &str) {
    if !user.is_object() {
        *user = Value::Object(Map::new());
    }
    let arr = array_mut(user.as_object_mut().expect("an object"), "externalIds");
    arr.retain(|e| {
        !(e.get("type").and_then(Value::as_str) == Some("custom")
            && e.get("customType").and_then(Value::as_str) == Some(ANCHOR_TYPE))
    });
    arr.push(json!({"type": "custom", "customType": ANCHOR_TYPE, "value": username}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_and_write_their_members() {
        let mut u = json!({
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "organizations": [{"title": "x"}, {"primary": true, "title": "CTO", "department": "R&D"}],
            "phones": [{"type": "work", "value": "+1 1"}],
            "externalIds": [{"type": "organization", "value": "E7"}],
        });
        let p = |s: &str| FieldPath::parse(s).unwrap();
        assert_eq!(p("name.givenName").read(&u).as_deref(), Some("Ann"));
        assert_eq!(p("organizations.title").read(&u).as_deref(), Some("CTO"));
        assert_eq!(
            p("phones[type eq \"work\"].value").read(&u).as_deref(),
            Some("+1 1")
        );
        assert_eq!(p("phones[type eq \"mobile\"].value").read(&u), None);
        assert_eq!(
            p("externalIds[type eq \"organization\"].value")
                .read(&u)
                .as_deref(),
            Some("E7")
        );
        assert!(p("organizations.title").is_array());
        assert!(!p("name.givenName").is_array());

        p("organizations.department").write(&mut u, Some("Sales"));
        assert_eq!(u["organizations"][1]["department"], "Sales");
        assert_eq!(u["organizations"][0]["title"], "x", "other entries kept");
        p("phones[type eq \"mobile\"].value").write(&mut u, Some("+33"));
        p("phones[type eq \"work\"].value").write(&mut u, None);
        assert_eq!(u["phones"], json!([{"type": "mobile", "value": "+33"}]));
        p("name.familyName").write(&mut u, None);
        assert_eq!(u["name"], json!({"givenName": "Ann"}));

        let mut bare = json!({});
        p("organizations.title").write(&mut bare, Some("Dev"));
        assert_eq!(
            bare["organizations"],
            json!([{"primary": true, "title": "Dev"}])
        );
        assert!(FieldPath::parse("phones[kind = 1].value").is_err());
    }

    #[test]
    fn the_anchor_is_a_custom_external_id() {
        let mut u = json!({"externalIds": [{"type": "organization", "value": "E7"}]});
        assert_eq!(anchor(&u), None);
        set_anchor(&mut u, "ann");
        set_anchor(&mut u, "ann.lee");
        assert_eq!(anchor(&u).as_deref(), Some("ann.lee"));
        assert_eq!(u["externalIds"].as_array().unwrap().len(), 2, "{u}");
    }
}
