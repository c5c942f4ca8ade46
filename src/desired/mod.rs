//! Desired state: the identity repository's YAML, read from a working tree or a Git
//! revision, validated with exact source positions, and merged into one model.

mod model;

pub use model::*;
