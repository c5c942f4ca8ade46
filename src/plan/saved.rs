//! Saved plan files: the plan plus what `apply` needs to refuse a stale plan.
