//! sea-orm entities, one file per table. Crate-private: the rest of dirsync sees domain types.

pub(crate) mod api_tokens;
pub(crate) mod change_log;
pub(crate) mod group_members;
pub(crate) mod groups;
pub(crate) mod sync_leases;
pub(crate) mod sync_runs;
pub(crate) mod target_links;
pub(crate) mod tenants;
pub(crate) mod users;
