use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    TenantId,
    Id,
    Active,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    TenantId,
    Id,
}

// Lists and snapshots read a tenant's rows in id order. Without an index on (tenant_id, id)
// SQLite found the tenant's rows through another index and sorted all of them for every page,
// so each page cost as much as the whole tenant. The (tenant_id, active) index goes: `active`
// splits a tenant in two uneven halves, so the planner gains nothing from it, and every create
// paid for keeping it.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_users_tenant_id")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_groups_tenant_id")
                    .table(Groups::Table)
                    .col(Groups::TenantId)
                    .col(Groups::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_users_tenant_active")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_users_tenant_active")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::Active)
                    .to_owned(),
            )
            .await?;
        for (name, table) in [
            ("idx_groups_tenant_id", Groups::Table.into_iden()),
            ("idx_users_tenant_id", Users::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
