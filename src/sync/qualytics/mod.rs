//! The Qualytics target: teams, team members and user roles in a Qualytics controlplane, kept
//! equal to the permission model the rules compute from the store.

pub mod client;
pub mod permissions;
pub mod target;

pub use target::QualyticsTarget;
