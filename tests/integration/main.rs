//! dirsync's integration tests: one binary; every test starts its own daemon on port 0 with its
//! own database, on SQLite and on PostgreSQL (see `support`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin_api;
mod audit;
mod authentication;
mod bad_input;
mod bulk;
mod cli;
mod discovery;
mod etags;
mod faults;
mod filters;
mod groups;
mod health_and_shutdown;
mod idp_replay;
mod ldap_target;
mod metrics;
mod paging;
mod patch;
mod postgres_unwritable;
mod qualytics_target;
mod rate_limits;
mod reconcile_engine;
mod reload;
mod replicas;
mod request_limits;
mod secrets;
mod status_page;
mod tenant_controls;
mod tenant_isolation;
mod tls;
mod users;
