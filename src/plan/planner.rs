//! The planner: a pure, deterministic function of (desired state, observed state,
//! today) → plan. No I/O, no clock, no hash-map order.
