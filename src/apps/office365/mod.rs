//! The office365 connector: Microsoft Graph v1.0 client, reader and applier.
