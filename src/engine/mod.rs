//! The apply engine: runs a plan through the connectors with the deletion guard,
//! the stale-plan check, the apply lock and the provisioning report log.

pub mod guard;
pub mod lock;
pub mod read_guard;
pub mod report_log;
