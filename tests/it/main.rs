//! roster's integration tests, in one test binary: CLI snapshot tests, the Graph
//! emulator's conformance tests, connector tests against real servers (Samba AD DC,
//! scim2-server) and end-to-end runs of the binaries. Servers are started by the
//! support modules through the project's scripts.

mod emulator_support;
mod o365_common;
mod planner_support;
#[path = "support/samba.rs"]
mod samba;
mod scim_support;
#[path = "support/slapd.rs"]
mod slapd;
mod support;

mod ad_connector;
mod ad_incremental;
mod ad_large_group;
mod ad_mapping;
mod cli_access;
mod cli_apps_from;
mod cli_diff;
mod cli_doctor;
mod cli_early_errors;
mod cli_errors;
mod cli_forecast;
mod cli_hr;
mod cli_import;
mod cli_load_checks;
mod cli_logging;
mod cli_output;
mod cli_partial;
mod cli_polish;
mod cli_report;
mod cli_tls;

mod cli_validate;
mod connector_guard;
mod desired_proptest;
mod desired_scale;
mod desired_schema;
mod e2e_active_directory;
mod e2e_ad_unfinished;
mod e2e_concurrency;
mod e2e_google;
mod e2e_google_discovery;
mod e2e_google_fake;
mod google_emulator;
mod google_emulator_py;
mod e2e_ldap;
mod e2e_lifecycle;
mod e2e_office365;
mod e2e_people;
mod e2e_real_tenant;
mod e2e_resilience;
mod e2e_safety;
mod e2e_saved_plans;
mod emulator_api;
mod emulator_auth;
mod emulator_conf_delta;
mod emulator_conf_identity;
mod emulator_conf_protocol;
mod emulator_conf_query;
mod emulator_csdl;
mod emulator_js;
mod emulator_people;
mod emulator_py;
mod emulator_realism;
mod emulator_realism_groups;
mod emulator_realism_licensing;
mod emulator_realism_roles;
mod emulator_realism_tenant;
mod o365_auth;
mod o365_client;
mod o365_github_oidc;
mod o365_incremental;
mod plan_wire;
mod planner_coexist;
mod planner_people;
mod planner_props;
mod planner_rules;
mod planner_saved;
mod render_snapshots;
mod scim_connector;
mod scim_e2e;
mod workflows_lint;
mod workflows_run;
