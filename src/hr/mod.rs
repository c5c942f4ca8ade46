//! The HR feed: an HRIS export (CSV) compared with the repository's users, as
//! joiners (new rows), movers (changed department, title or manager) and leavers (an
//! end date, a terminated status, or a row that disappeared), then written into the
//! YAML files as targeted line edits.
//!
//! `mapping` reads the mapping file, `feed` the CSV (bad rows kept with their line
//! numbers), `sync` computes the changes (pure: no clock, no files), `edit` turns
//! them into new file texts, `summary` renders the Markdown for the pull request.

pub mod edit;
pub mod feed;
pub mod mapping;
pub mod summary;
pub mod sync;
