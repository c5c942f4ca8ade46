//! Renderers: a plan (or a desired-state diff) as human text, JSON or Markdown,
//! from the data alone.

pub mod diff;
