//! [`IdSet`]: the member ids of one live group, a sorted set that is a plain sorted
//! vector once a read is done.
//!
//! A tenant holds millions of memberships and nearly all of its groups are small, so
//! the form the planner sees is what counts: a sorted `Vec` costs the ids' own bytes
//! (40 each, see [`MemberId`]) where a `BTreeSet` costs about 75 (node slack and
//! headers). While a reader builds a group, a small set stays a vector (an insert
//! shifts at most [`IdSet::SORTED_MAX`] ids) and a large one becomes a tree, so a
//! group of a million members read in any order never costs quadratic time;
//! [`IdSet::compact`] turns it back into a vector when the read is complete.
//! Iteration is in ascending order in both forms, and the set compares, prints and
//! serializes exactly like a `BTreeSet<String>` of the same ids.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::observed::MemberId;

/// A sorted set of member ids. See the module documentation.
#[derive(Clone, Default)]
pub struct IdSet(Repr);

#[derive(Clone)]
enum Repr {
    /// Ascending, no duplicates.
    Sorted(Vec<MemberId>),
    Tree(BTreeSet<MemberId>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Sorted(Vec::new())
    }
}

impl IdSet {
    /// The largest vector an insert or remove in the middle still shifts; beyond it the
    /// set turns into a tree until [`IdSet::compact`].
    pub const SORTED_MAX: usize = 256;

    pub fn new() -> IdSet {
        IdSet::default()
    }

    /// Adds `id`; false when it was there already.
    pub fn insert(&mut self, id: MemberId) -> bool {
        match &mut self.0 {
            Repr::Sorted(v) => match v.binary_search_by(|m| m.as_str().cmp(id.as_str())) {
                Ok(_) => false,
                Err(i) if i == v.len() || v.len() < Self::SORTED_MAX => {
                    v.insert(i, id);
                    true
                }
                Err(_) => self.tree().insert(id),
            },
            Repr::Tree(t) => t.insert(id),
        }
    }

    /// Removes `id`; false when it was not there.
    pub fn remove(&mut self, id: &str) -> bool {
        match &mut self.0 {
            Repr::Sorted(v) => match v.binary_search_by(|m| m.as_str().cmp(id)) {
                Err(_) => false,
                Ok(i) if i + 1 == v.len() || v.len() <= Self::SORTED_MAX => {
                    v.remove(i);
                    true
                }
                Ok(_) => self.tree().remove(id),
            },
            Repr::Tree(t) => t.remove(id),
        }
    }

    /// The tree form, made from the vector if need be.
    fn tree(&mut self) -> &mut BTreeSet<MemberId> {
        if let Repr::Sorted(v) = &mut self.0 {
            self.0 = Repr::Tree(std::mem::take(v).into_iter().collect());
        }
        match &mut self.0 {
            Repr::Tree(t) => t,
            Repr::Sorted(_) => unreachable!("made a tree just above"),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        match &self.0 {
            Repr::Sorted(v) => v.binary_search_by(|m| m.as_str().cmp(id)).is_ok(),
            Repr::Tree(t) => t.contains(id),
        }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Sorted(v) => v.len(),
            Repr::Tree(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.0 = Repr::Sorted(Vec::new());
    }

    /// Keeps the ids for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&MemberId) -> bool) {
        match &mut self.0 {
            Repr::Sorted(v) => v.retain(keep),
            Repr::Tree(t) => t.retain(keep),
        }
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Sorted(v) => Iter::Sorted(v.iter()),
            Repr::Tree(t) => Iter::Tree(t.iter()),
        }
    }

    /// The compact form: a sorted vector without spare capacity. Readers call it (through
    /// [`crate::observed::ObservedApp::compact`]) once a read is complete.
    pub fn compact(&mut self) {
        match &mut self.0 {
            Repr::Sorted(v) => v.shrink_to_fit(),
            Repr::Tree(t) => {
                let v: Vec<MemberId> = std::mem::take(t).into_iter().collect();
                self.0 = Repr::Sorted(v);
            }
        }
    }
}

/// The ids of an [`IdSet`] in ascending order.
pub enum Iter<'a> {
    Sorted(std::slice::Iter<'a, MemberId>),
    Tree(std::collections::btree_set::Iter<'a, MemberId>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a MemberId;
    fn next(&mut self) -> Option<&'a MemberId> {
        match self {
            Iter::Sorted(i) => i.next(),
            Iter::Tree(i) => i.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Sorted(i) => i.size_hint(),
            Iter::Tree(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a IdSet {
    type Item = &'a MemberId;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<MemberId> for IdSet {
    /// Sorted and deduplicated at once: the compact form, whatever the size.
    fn from_iter<I: IntoIterator<Item = MemberId>>(iter: I) -> IdSet {
        let mut v: Vec<MemberId> = iter.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        v.shrink_to_fit();
        IdSet(Repr::Sorted(v))
    }
}

impl Extend<MemberId> for IdSet {
    fn extend<I: IntoIterator<Item = MemberId>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

impl<const N: usize> From<[MemberId; N]> for IdSet {
    fn from(ids: [MemberId; N]) -> IdSet {
        ids.into_iter().collect()
    }
}

impl PartialEq for IdSet {
    fn eq(&self, other: &IdSet) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}
impl Eq for IdSet {}

impl PartialEq<BTreeSet<MemberId>> for IdSet {
    fn eq(&self, other: &BTreeSet<MemberId>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for IdSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for IdSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IdSet, D::Error> {
        Vec::<MemberId>::deserialize(d).map(IdSet::from_iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(set: &IdSet) -> Vec<&str> {
        set.iter().map(|m| m.as_str()).collect()
    }

    fn is_tree(set: &IdSet) -> bool {
        matches!(set.0, Repr::Tree(_))
    }

    #[test]
    fn behaves_as_a_btree_set_through_every_form() {
        // A deterministic shuffle of 2,000 ids, inserted, some removed, some twice.
        let mut set = IdSet::new();
        let mut model = BTreeSet::new();
        let mut x: u64 = 7;
        for _ in 0..6000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = format!("{:08}", (x >> 33) % 2000);
            if (x >> 20).is_multiple_of(4) {
                assert_eq!(set.remove(&id), model.remove(id.as_str()), "remove {id}");
            } else {
                assert_eq!(
                    set.insert(MemberId::new(&id)),
                    model.insert(MemberId::new(&id)),
                    "insert {id}"
                );
            }
            assert_eq!(set.len(), model.len());
        }
        assert!(is_tree(&set), "a large set built in any order is a tree");
        assert_eq!(set, model);
        assert!(set.contains(model.iter().next().expect("some id")));
        set.compact();
        assert!(!is_tree(&set));
        assert_eq!(set, model);
        assert!(!set.contains("nope"));
        // A removal in the middle of a large vector makes a tree again, still equal.
        let middle = model.iter().nth(model.len() / 2).expect("middle").clone();
        assert!(set.remove(&middle));
        model.remove(middle.as_str());
        assert!(is_tree(&set));
        assert_eq!(set, model);
    }

    #[test]
    fn small_sets_and_appends_stay_vectors() {
        let mut set = IdSet::new();
        for i in (0..IdSet::SORTED_MAX).rev() {
            set.insert(MemberId::new(&format!("{i:04}")));
        }
        assert!(!is_tree(&set));
        // Appending in order never shifts, whatever the size.
        for i in IdSet::SORTED_MAX..5000 {
            set.insert(MemberId::new(&format!("{i:04}")));
        }
        assert!(!is_tree(&set));
        assert_eq!(set.len(), 5000);
        assert!(
            set.remove("4999"),
            "the last id is removed without shifting"
        );
        assert!(!is_tree(&set));
        assert_eq!(ids(&set)[..3], ["0000", "0001", "0002"]);
    }

    #[test]
    fn serializes_and_prints_like_a_btree_set_of_strings() {
        let set: IdSet = ["b", "a", "c", "a"]
            .into_iter()
            .map(MemberId::new)
            .collect();
        let model: BTreeSet<String> = ["b", "a", "c"].into_iter().map(String::from).collect();
        assert_eq!(
            serde_json::to_string(&set).expect("json"),
            serde_json::to_string(&model).expect("json")
        );
        assert_eq!(format!("{set:?}"), format!("{model:?}"));
        let back: IdSet = serde_json::from_str(r#"["z","y","z"]"#).expect("parse");
        assert_eq!(ids(&back), ["y", "z"]);
        let mut kept = set.clone();
        kept.retain(|m| m.as_str() != "b");
        assert_eq!(ids(&kept), ["a", "c"]);
        kept.clear();
        assert!(kept.is_empty());
    }
}
