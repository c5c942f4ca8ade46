//! The connector kit: what every connector shares, so that a connector supplies only its
//! protocol (connect, read, and per-change write primitives).

pub mod body;
pub mod doctor;
pub mod driver;
pub mod guard;
pub mod interrupt;
pub mod ldap;
pub mod ldap_codec;
pub mod password;
pub mod retry;
pub mod snapshot;
pub mod tls;
pub mod token_cache;
