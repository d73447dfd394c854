//! Reconciliation: keeping each downstream target equal to what the IdPs pushed.
//!
//! The step is [`engine::Reconciler::reconcile_once`]; the change-log follower, the cron
//! schedule, the CLI and the admin API all call that same step. It reads the desired state
//! from the store and the observed state from the target, `plan` (pure) computes the
//! operations, and in apply mode the target applies them.

pub mod engine;
pub mod memory;
pub mod model;
pub mod narrow;
pub mod plan;
pub mod target;
pub mod values;

pub use engine::{Guard, Mode, Outcome, Reconciler, Report, SyncError, Trigger};
pub use target::{Target, TargetError};
pub mod ldap;
pub mod qualytics;
pub mod schedule;
