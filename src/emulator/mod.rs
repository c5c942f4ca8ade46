//! A faithful local Microsoft Graph v1.0 tenant: the test double for Office 365 and
//! the engine of `sandbox:` apps.
