//! Generated passwords, for accounts whose repository entry names none: a service that
//! requires a password at creation (Graph) or before enabling (AD) gets one nobody
//! knows, to be reset through the organisation's own process.

use rand::Rng;
use rand::seq::SliceRandom;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGIT: &[u8] = b"23456789";
/// Symbols Entra ID and AD both accept, none of them special in LDAP filters or DNs.
const SYMBOL: &[u8] = b"!#$%*+-=?@^_";

/// 24 characters with at least one upper-case letter, lower-case letter, digit and
/// symbol (every complexity policy of Entra ID and AD is met), from the OS-seeded
/// thread RNG; look-alike characters (I, l, O, 0, 1) are left out.
pub fn random() -> String {
    let mut rng = rand::rng();
    let all: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL].concat();
    let mut out: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL]
        .iter()
        .map(|set| set[rng.random_range(0..set.len())])
        .collect();
    while out.len() < 24 {
        out.push(all[rng.random_range(0..all.len())]);
    }
    // So that the class characters are not always first.
    out.shuffle(&mut rng);
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_complex_and_differ() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let p = super::random();
            assert_eq!(p.len(), 24);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
            assert!(seen.insert(p));
        }
    }
}
