//! Graph pages parsed straight into typed rows: users, groups and the small objects
//! inside them, without building a `serde_json::Value` per object. Each row keeps, per
//! property, whether Graph sent it, sent a usable value, or sent something else (null,
//! another type), which is what the full reads and the delta merges distinguish.
//! Properties roster does not read are skipped without being built, so properties
//! Graph adds are tolerated; an item that is not an object parses as an empty row
//! (which the reads skip or reject as before). The same rows parse from a `Value`
//! (`Deserializer for &Value`), so the `Value`-taking functions of `read` and
//! `incremental` share this code.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize as _, Deserializer};
use serde_json::Value;

use super::read::USER_ATTRIBUTES;

/// A property of a Graph object as roster reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Prop<T> {
    /// Not in the object.
    #[default]
    Absent,
    /// In the object, but null or of another type.
    Other,
    /// In the object, with a value of the type wanted.
    Is(T),
}

impl<T> Prop<T> {
    /// Whether the object has the property (any value, null too).
    pub fn present(&self) -> bool {
        !matches!(self, Prop::Absent)
    }
    /// The value, if it has the type wanted.
    pub fn get(&self) -> Option<&T> {
        match self {
            Prop::Is(v) => Some(v),
            _ => None,
        }
    }
}

impl Prop<String> {
    /// Any string value (empty too).
    pub fn as_str(&self) -> Option<&str> {
        self.get().map(String::as_str)
    }
    /// A non-empty string value.
    pub fn text(&self) -> Option<&str> {
        self.as_str().filter(|s| !s.is_empty())
    }
    /// A non-empty string value, owned.
    pub fn take_text(&mut self) -> Option<String> {
        match std::mem::take(self) {
            Prop::Is(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
    /// A string property of a delta item: `None` not in the item (unchanged),
    /// `Some(None)` cleared (null, empty or another type), `Some(Some(v))` set.
    pub fn change(&self) -> Option<Option<&str>> {
        match self {
            Prop::Absent => None,
            p => Some(p.text()),
        }
    }
}

impl Prop<bool> {
    /// The value when it is a boolean.
    pub fn flag(&self) -> Option<bool> {
        self.get().copied()
    }
}

/// Fallbacks for values of a type not wanted: `$out` for the scalars listed, null, and
/// (through `Some`) what it wraps.
macro_rules! other_values {
    ($out:expr; $($name:ident: $ty:ty),*) => {
        $(
            fn $name<E: de::Error>(self, _: $ty) -> Result<Self::Value, E> {
                Ok($out)
            }
        )*
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
}

/// Reads through a list whose items roster does not want.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads through an object whose properties roster does not want.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Prop<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Prop::Is(s.to_string()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Prop::Is(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| Prop::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| Prop::Other)
    }
    other_values!(Prop::Other; visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);
}

impl<'de> serde::Deserialize<'de> for Prop<String> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor)
    }
}

struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = Prop<bool>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Prop::Is(b))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| Prop::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| Prop::Other)
    }
    other_values!(Prop::Other; visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

impl<'de> serde::Deserialize<'de> for Prop<bool> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BoolVisitor)
    }
}

/// A list of strings (`groupTypes`): the string items of a list; any other value is
/// [`Prop::Other`].
struct StringsVisitor;

impl<'de> Visitor<'de> for StringsVisitor {
    type Value = Prop<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Prop<String>>()? {
            if let Prop::Is(s) = item {
                out.push(s);
            }
        }
        Ok(Prop::Is(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| Prop::Other)
    }
    other_values!(Prop::Other; visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

impl<'de> serde::Deserialize<'de> for Prop<Vec<String>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringsVisitor)
    }
}

/// A small object inside a user or group: a manager (`id`), a license
/// (`skuId`), a license assignment state (`skuId`, `assignedByGroup`), a member of a
/// groups delta item (`@odata.type`, `id`, `@removed`). A value that is not an
/// object is an empty one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefRow {
    pub id: Prop<String>,
    pub sku_id: Prop<String>,
    pub assigned_by_group: Prop<String>,
    pub odata_type: Prop<String>,
    pub removed: bool,
}

struct RefVisitor;

impl<'de> Visitor<'de> for RefVisitor {
    type Value = RefRow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = RefRow::default();
        while let Some(key) = map.next_key_seed(KeyOf(ref_key))? {
            match key {
                0 => r.id = map.next_value()?,
                1 => r.sku_id = map.next_value()?,
                2 => r.assigned_by_group = map.next_value()?,
                3 => r.odata_type = map.next_value()?,
                4 => {
                    map.next_value::<IgnoredAny>()?;
                    r.removed = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| RefRow::default())
    }
    other_values!(RefRow::default(); visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

fn ref_key(k: &str) -> u16 {
    match k {
        "id" => 0,
        "skuId" => 1,
        "assignedByGroup" => 2,
        "@odata.type" => 3,
        "@removed" => 4,
        _ => u16::MAX,
    }
}

impl<'de> serde::Deserialize<'de> for RefRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RefVisitor)
    }
}

/// A list of [`RefRow`]s; any other value is [`Prop::Other`].
struct RefsVisitor;

impl<'de> Visitor<'de> for RefsVisitor {
    type Value = Prop<Vec<RefRow>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<RefRow>()? {
            out.push(item);
        }
        Ok(Prop::Is(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| Prop::Other)
    }
    other_values!(Prop::Other; visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

impl<'de> serde::Deserialize<'de> for Prop<Vec<RefRow>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RefsVisitor)
    }
}

/// A property name mapped to a number by a function (no allocation per key).
struct KeyOf<F>(F);

impl<'de, F: Fn(&str) -> u16> DeserializeSeed<'de> for KeyOf<F> {
    type Value = u16;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u16, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, F: Fn(&str) -> u16> Visitor<'de> for KeyOf<F> {
    type Value = u16;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a property name")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<u16, E> {
        Ok((self.0)(s))
    }
}

/// A Graph user as roster reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserRow {
    pub id: Prop<String>,
    pub user_principal_name: Prop<String>,
    /// The string attributes, in [`USER_ATTRIBUTES`] order.
    pub attributes: [Prop<String>; USER_ATTRIBUTES.len()],
    pub account_enabled: Prop<bool>,
    pub assigned_licenses: Prop<Vec<RefRow>>,
    pub license_assignment_states: Prop<Vec<RefRow>>,
    pub user_type: Prop<String>,
    pub on_premises_sync_enabled: Prop<bool>,
    pub mail_nickname: Prop<String>,
    pub manager: Prop<RefRow>,
    pub removed: bool,
    /// The properties asked for by [`UserRows`] (mapped targets), by their index there.
    pub extra: Vec<(usize, Value)>,
}

impl<'de> serde::Deserialize<'de> for Prop<RefRow> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RefRow::deserialize(d).map(Prop::Is)
    }
}

fn user_key(k: &str) -> u16 {
    if let Some(i) = USER_ATTRIBUTES.iter().position(|(_, g)| *g == k) {
        return 100 + i as u16;
    }
    match k {
        "id" => 0,
        "userPrincipalName" => 1,
        "accountEnabled" => 2,
        "assignedLicenses" => 3,
        "licenseAssignmentStates" => 4,
        "userType" => 5,
        "onPremisesSyncEnabled" => 6,
        "mailNickname" => 7,
        "manager" => 8,
        "@removed" => 9,
        _ => u16::MAX,
    }
}

/// Parses [`UserRow`]s, keeping the top-level properties named in `extra` whole (as
/// `Value`s; the mapped targets, few and small).
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRows<'a> {
    pub extra: &'a [String],
}

impl<'de> DeserializeSeed<'de> for UserRows<'_> {
    type Value = UserRow;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<UserRow, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UserRows<'_> {
    type Value = UserRow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut u = UserRow::default();
        let extra = self.extra;
        // Keys are numbered: the known ones by `user_key`, a wanted extra one by
        // 1000 + its index (a key both known and wanted is read whole, then typed).
        let key_of = |k: &str| match extra.iter().take(999).position(|e| e == k) {
            Some(i) => 1000 + i as u16,
            None => user_key(k),
        };
        while let Some(key) = map.next_key_seed(KeyOf(key_of))? {
            match key {
                1000..=1999 => {
                    let i = usize::from(key - 1000);
                    let v: Value = map.next_value()?;
                    let known = user_key(&extra[i]);
                    if known != u16::MAX {
                        set_user(&mut u, known, &v).map_err(de::Error::custom)?;
                    }
                    u.extra.retain(|(j, _)| *j != i);
                    u.extra.push((i, v));
                }
                k => set_user_from(&mut u, k, &mut map)?,
            }
        }
        Ok(u)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| UserRow::default())
    }
    other_values!(UserRow::default(); visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

/// Sets the known property `key` of `u` from the next value of `map`.
fn set_user_from<'de, A: MapAccess<'de>>(
    u: &mut UserRow,
    key: u16,
    map: &mut A,
) -> Result<(), A::Error> {
    match key {
        0 => u.id = map.next_value()?,
        1 => u.user_principal_name = map.next_value()?,
        2 => u.account_enabled = map.next_value()?,
        3 => u.assigned_licenses = map.next_value()?,
        4 => u.license_assignment_states = map.next_value()?,
        5 => u.user_type = map.next_value()?,
        6 => u.on_premises_sync_enabled = map.next_value()?,
        7 => u.mail_nickname = map.next_value()?,
        8 => u.manager = map.next_value()?,
        9 => {
            map.next_value::<IgnoredAny>()?;
            u.removed = true;
        }
        k @ 100..1000 => u.attributes[usize::from(k - 100)] = map.next_value()?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}

/// Sets the known property `key` of `u` from a value already read.
fn set_user(u: &mut UserRow, key: u16, v: &Value) -> serde_json::Result<()> {
    struct One<'a>(&'a Value);
    impl<'de> MapAccess<'de> for One<'_> {
        type Error = serde_json::Error;
        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            _: K,
        ) -> Result<Option<K::Value>, Self::Error> {
            Ok(None)
        }
        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, Self::Error> {
            seed.deserialize(self.0.clone())
        }
    }
    set_user_from(u, key, &mut One(v))
}

impl UserRow {
    /// Parses a user from a `Value` (tests, and objects that come as `Value`s).
    pub fn from_value(v: &Value, extra: &[String]) -> UserRow {
        UserRows { extra }.deserialize(v).unwrap_or_default()
    }
}

/// A Graph group as roster reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupRow {
    pub id: Prop<String>,
    pub display_name: Prop<String>,
    pub description: Prop<String>,
    pub group_types: Prop<Vec<String>>,
    pub security_enabled: Prop<bool>,
    pub mail_enabled: Prop<bool>,
    pub unique_name: Prop<String>,
    pub membership_rule: Prop<String>,
    pub is_assignable_to_role: Prop<bool>,
    pub members_delta: Prop<Vec<RefRow>>,
    pub removed: bool,
}

fn group_key(k: &str) -> u16 {
    match k {
        "id" => 0,
        "displayName" => 1,
        "description" => 2,
        "groupTypes" => 3,
        "securityEnabled" => 4,
        "mailEnabled" => 5,
        "uniqueName" => 6,
        "membershipRule" => 7,
        "isAssignableToRole" => 8,
        "members@delta" => 9,
        "@removed" => 10,
        _ => u16::MAX,
    }
}

struct GroupVisitor;

impl<'de> Visitor<'de> for GroupVisitor {
    type Value = GroupRow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut g = GroupRow::default();
        while let Some(key) = map.next_key_seed(KeyOf(group_key))? {
            match key {
                0 => g.id = map.next_value()?,
                1 => g.display_name = map.next_value()?,
                2 => g.description = map.next_value()?,
                3 => g.group_types = map.next_value()?,
                4 => g.security_enabled = map.next_value()?,
                5 => g.mail_enabled = map.next_value()?,
                6 => g.unique_name = map.next_value()?,
                7 => g.membership_rule = map.next_value()?,
                8 => g.is_assignable_to_role = map.next_value()?,
                9 => g.members_delta = map.next_value()?,
                10 => {
                    map.next_value::<IgnoredAny>()?;
                    g.removed = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(g)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| GroupRow::default())
    }
    other_values!(GroupRow::default(); visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

impl<'de> serde::Deserialize<'de> for GroupRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GroupVisitor)
    }
}

impl GroupRow {
    /// Parses a group from a `Value`.
    pub fn from_value(v: &Value) -> GroupRow {
        <GroupRow as serde::Deserialize>::deserialize(v).unwrap_or_default()
    }
}

/// How the items of a page are parsed.
pub trait Rows: Copy {
    type Row;
    fn row<'de, D: Deserializer<'de>>(self, d: D) -> Result<Self::Row, D::Error>;
}

impl Rows for UserRows<'_> {
    type Row = UserRow;
    fn row<'de, D: Deserializer<'de>>(self, d: D) -> Result<UserRow, D::Error> {
        self.deserialize(d)
    }
}

/// Parses [`GroupRow`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupRows;

impl Rows for GroupRows {
    type Row = GroupRow;
    fn row<'de, D: Deserializer<'de>>(self, d: D) -> Result<GroupRow, D::Error> {
        <GroupRow as serde::Deserialize>::deserialize(d)
    }
}

/// Skips every item (a delta round read only for its link).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRows;

impl Rows for NoRows {
    type Row = ();
    fn row<'de, D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        IgnoredAny::deserialize(d).map(|_| ())
    }
}

/// The links of a page (absolute, as Graph sent them), and whether it had a `value`
/// list.
#[derive(Debug, Default, PartialEq)]
pub struct PageLinks {
    pub listed: bool,
    pub next: Option<String>,
    pub delta: Option<String>,
}

/// Why a page could not be parsed.
#[derive(Debug)]
pub enum PageError {
    /// The body is not a JSON object of the expected shape.
    Malformed(String),
    /// The handler of an item failed.
    Item(anyhow::Error),
}

/// Parses one page, handing each item of `value` to `each` as it is parsed (no page of
/// rows or of `Value`s is built), and returns its links.
pub fn parse_page<R: Rows>(
    bytes: &[u8],
    rows: R,
    each: &mut dyn FnMut(R::Row) -> anyhow::Result<()>,
) -> Result<PageLinks, PageError> {
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = PageSeed {
        rows,
        each,
        failed: &mut failed,
    }
    .deserialize(&mut de)
    .and_then(|links| de.end().map(|()| links));
    match (parsed, failed) {
        (_, Some(e)) => Err(PageError::Item(e)),
        (Ok(links), None) => Ok(links),
        (Err(e), None) => Err(PageError::Malformed(e.to_string())),
    }
}

struct PageSeed<'f, R: Rows> {
    rows: R,
    each: &'f mut dyn FnMut(R::Row) -> anyhow::Result<()>,
    failed: &'f mut Option<anyhow::Error>,
}

impl<'de, R: Rows> DeserializeSeed<'de> for PageSeed<'_, R> {
    type Value = PageLinks;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PageLinks, D::Error> {
        d.deserialize_map(self)
    }
}

fn page_key(k: &str) -> u16 {
    match k {
        "value" => 0,
        "@odata.nextLink" => 1,
        "@odata.deltaLink" => 2,
        _ => u16::MAX,
    }
}

impl<'de, R: Rows> Visitor<'de> for PageSeed<'_, R> {
    type Value = PageLinks;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a page of a Graph collection")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageLinks, A::Error> {
        let mut links = PageLinks::default();
        while let Some(key) = map.next_key_seed(KeyOf(page_key))? {
            match key {
                0 => {
                    links.listed = map.next_value_seed(Items {
                        rows: self.rows,
                        each: &mut *self.each,
                        failed: &mut *self.failed,
                    })?
                }
                1 => links.next = map.next_value::<Prop<String>>()?.get().cloned(),
                2 => links.delta = map.next_value::<Prop<String>>()?.get().cloned(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(links)
    }
}

/// The `value` list: each item to the handler; `false` when it is not a list.
struct Items<'f, R: Rows> {
    rows: R,
    each: &'f mut dyn FnMut(R::Row) -> anyhow::Result<()>,
    failed: &'f mut Option<anyhow::Error>,
}

struct ItemSeed<R>(R);

impl<'de, R: Rows> DeserializeSeed<'de> for ItemSeed<R> {
    type Value = R::Row;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<R::Row, D::Error> {
        self.0.row(d)
    }
}

impl<'de, R: Rows> DeserializeSeed<'de> for Items<'_, R> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: Rows> Visitor<'de> for Items<'_, R> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(row) = seq.next_element_seed(ItemSeed(self.rows))? {
            if let Err(e) = (self.each)(row) {
                *self.failed = Some(e);
                return Err(de::Error::custom("an item was refused"));
            }
        }
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        skip_map(map).map(|()| false)
    }
    other_values!(false; visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users(body: &str, extra: &[String]) -> (Vec<UserRow>, PageLinks) {
        let mut out = Vec::new();
        let links = parse_page(body.as_bytes(), UserRows { extra }, &mut |u| {
            out.push(u);
            Ok(())
        })
        .expect("a page");
        (out, links)
    }

    #[test]
    fn pages_parse_into_rows_tolerating_unknown_and_odd_values() {
        let body = r#"{"@odata.context": "x", "value": [
            {"id": "u1", "userPrincipalName": "a@x", "givenName": "", "surname": null,
             "department": 7, "accountEnabled": "yes", "newGraphProperty": {"a": [1, {"b": 2}]},
             "assignedLicenses": [{"skuId": "S1", "disabledPlans": []}, "junk", {"x": 1}],
             "licenseAssignmentStates": {"not": "a list"}, "manager": {"id": "m1", "displayName": "M"},
             "@removed": null},
            "not an object", 3, null, [1, 2]
          ], "@odata.nextLink": "https://graph/v1.0/users?$skiptoken=a", "another": [true]}"#;
        let (rows, links) = users(body, &[]);
        assert_eq!(rows.len(), 5);
        assert!(links.listed);
        assert_eq!(
            links.next.as_deref(),
            Some("https://graph/v1.0/users?$skiptoken=a")
        );
        assert_eq!(links.delta, None);
        let u = &rows[0];
        assert_eq!(u.id.text(), Some("u1"));
        assert_eq!(u.attributes[1], Prop::Is(String::new()));
        assert_eq!(u.attributes[1].change(), Some(None));
        assert_eq!(u.attributes[2], Prop::Other);
        assert_eq!(u.attributes[4], Prop::Other);
        assert_eq!(u.attributes[3], Prop::Absent);
        assert_eq!(u.attributes[3].change(), None);
        assert_eq!(u.account_enabled, Prop::Other);
        let Prop::Is(licenses) = &u.assigned_licenses else {
            panic!("a list")
        };
        assert_eq!(licenses.len(), 3);
        assert_eq!(licenses[0].sku_id.as_str(), Some("S1"));
        assert_eq!(licenses[1], RefRow::default());
        assert_eq!(u.license_assignment_states, Prop::Other);
        assert_eq!(u.manager.get().and_then(|m| m.id.text()), Some("m1"));
        assert!(u.removed, "@removed: null is present");
        assert!(rows[1..].iter().all(|r| *r == UserRow::default()));
        // The same row from a Value.
        let v: Value = serde_json::from_str(body).expect("json");
        assert_eq!(UserRow::from_value(&v["value"][0], &[]), rows[0]);
    }

    #[test]
    fn wanted_extra_properties_are_kept_whole() {
        let extra = ["employeeOrgData".to_string(), "department".to_string()];
        let (rows, _) = users(
            r#"{"value": [{"id": "u", "employeeOrgData": {"costCenter": "C1"}, "department": "D"}]}"#,
            &extra,
        );
        assert_eq!(rows[0].attributes[4].text(), Some("D"));
        assert_eq!(
            rows[0].extra,
            vec![(0, json!({"costCenter": "C1"})), (1, json!("D"))]
        );
    }

    #[test]
    fn groups_and_member_deltas_parse() {
        let body = r##"{"value": [{"id": "g", "displayName": "G", "groupTypes": ["Unified", 3, null],
            "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u1"},
                              {"id": "u2", "@removed": {"reason": "deleted"}}],
            "mailEnabled": true, "@removed": {"reason": "changed"}}],
            "@odata.deltaLink": "https://graph/v1.0/groups/delta?$deltatoken=t"}"##;
        let mut rows = Vec::new();
        let links = parse_page(body.as_bytes(), GroupRows, &mut |g| {
            rows.push(g);
            Ok(())
        })
        .expect("a page");
        assert_eq!(links.next, None);
        assert!(links.delta.is_some());
        let g = &rows[0];
        assert_eq!(g.group_types, Prop::Is(vec!["Unified".to_string()]));
        assert_eq!(g.mail_enabled.flag(), Some(true));
        assert!(g.removed);
        let Prop::Is(md) = &g.members_delta else {
            panic!("members")
        };
        assert!(!md[0].removed && md[1].removed);
        assert_eq!(md[0].odata_type.as_str(), Some("#microsoft.graph.user"));
    }

    #[test]
    fn malformed_pages_and_refused_items_are_errors() {
        let refuse = |body: &str| {
            parse_page(body.as_bytes(), GroupRows, &mut |_| {
                Err(anyhow::anyhow!("refused"))
            })
        };
        assert!(matches!(
            refuse(r#"{"value": [{"id": "g"}]}"#),
            Err(PageError::Item(e)) if e.to_string() == "refused"
        ));
        assert!(matches!(refuse("not json"), Err(PageError::Malformed(_))));
        assert!(matches!(
            refuse(r#"{"value": [{"id": "g"}"#),
            Err(PageError::Item(_))
        ));
        assert!(matches!(
            refuse(r#"{"value": []} x"#),
            Err(PageError::Malformed(_))
        ));
        let links = refuse(r#"{"value": {"not": "a list"}}"#).expect("parsed");
        assert!(!links.listed);
        let links = refuse(r#"{"items": []}"#).expect("parsed");
        assert!(!links.listed);
    }
}
