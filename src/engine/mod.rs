//! The apply engine: runs a plan through the connectors with the deletion guard,
//! the stale-plan check and the provisioning report log.
