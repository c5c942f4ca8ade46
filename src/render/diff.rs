//! Placeholder for the desired-state diff renderer (owned elsewhere); replaced on integration.
