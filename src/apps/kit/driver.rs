//! The apply driver shared by every connector.
