//! The active_directory connector: LDAP connection, reader and applier.
