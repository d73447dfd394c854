//! dirsync: a Directory Sync daemon. Identity providers push Users and Groups over SCIM 2.0;
//! dirsync stores them per tenant and reconciles them into downstream directories.
//!
//! Layers, and what each may import (README.md, "Architecture"):
//! `domain` ← `scim` / `store` ← `api` ← `app` ← `cli`/`main`. `configuration`, `clock`,
//! `secret` and `telemetry` are leaves any layer above `domain` may use.

pub mod api;
pub mod app;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod configuration;
pub mod domain;
pub mod metrics;
pub mod ratelimit;
pub mod scim;
pub mod secret;
pub mod selftest;
pub mod signals;
pub mod status;
pub mod store;
pub mod sync;
pub mod telemetry;
