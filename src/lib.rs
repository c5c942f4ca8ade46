//! roster: a declarative GitOps reconciler for identity.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the code map.

pub mod apps;
pub mod cli;
pub mod commands;
pub mod desired;
pub mod emulator;
pub mod engine;
pub mod error_report;
pub mod google_emulator;
pub mod hr;
pub mod id_set;
pub mod inline_str;
pub mod layout;
pub mod logging;
pub mod mapping;
pub mod observed;
pub mod output;
pub mod plan;
pub mod progress;
pub mod render;
pub mod repo_paths;
pub mod secret;
