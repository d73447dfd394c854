//! dirsync's schema, as an ordered list of sea-orm migrations.
//!
//! Every migration is backend-neutral (sea-query builders only) so that SQLite and PostgreSQL get
//! the same tables. Migrations are forward-only in production; `down` exists for development.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_tenants_and_tokens;
mod m20261125_000002_create_users_groups_members;
mod m20261125_000003_create_change_log_and_sync_runs;
mod m20261201_000004_add_tenant_settings;
mod m20261201_000005_create_target_links_and_leases;
mod m20261201_000006_index_listing_order;
mod m20261207_000007_add_run_change_window;

/// Runs dirsync's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tenants_and_tokens::Migration),
            Box::new(m20261125_000002_create_users_groups_members::Migration),
            Box::new(m20261125_000003_create_change_log_and_sync_runs::Migration),
            Box::new(m20261201_000004_add_tenant_settings::Migration),
            Box::new(m20261201_000005_create_target_links_and_leases::Migration),
            Box::new(m20261201_000006_index_listing_order::Migration),
            Box::new(m20261207_000007_add_run_change_window::Migration),
        ]
    }
}
