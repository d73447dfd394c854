use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

// What dirsync knows of each resource in each target: the target's stable id for it (LDAP
// entryUUID) and where it last was (the DN). Entries are matched by anchor first, so a rename
// done by hand in the directory is followed, not re-created.
#[derive(DeriveIden)]
enum TargetLinks {
    Table,
    TenantId,
    Target,
    ResourceType,
    ResourceId,
    Anchor,
    Location,
    UpdatedAt,
}

// One run per (tenant, target) at a time across processes sharing the database: a lease row,
// taken by an insert or by replacing an expired lease, released by deleting it. PostgreSQL
// additionally holds an advisory lock on a dedicated connection while the run lasts.
#[derive(DeriveIden)]
enum SyncLeases {
    Table,
    TenantId,
    Target,
    Holder,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    ChangeSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TargetLinks::Table)
                    .col(uuid(TargetLinks::TenantId))
                    .col(string_len(TargetLinks::Target, 32))
                    .col(string_len(TargetLinks::ResourceType, 16))
                    .col(uuid(TargetLinks::ResourceId))
                    .col(text(TargetLinks::Anchor))
                    .col(text(TargetLinks::Location))
                    .col(timestamp_with_time_zone(TargetLinks::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(TargetLinks::TenantId)
                            .col(TargetLinks::Target)
                            .col(TargetLinks::ResourceType)
                            .col(TargetLinks::ResourceId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TargetLinks::Table, TargetLinks::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncLeases::Table)
                    .col(uuid(SyncLeases::TenantId))
                    .col(string_len(SyncLeases::Target, 32))
                    .col(string_len(SyncLeases::Holder, 64))
                    .col(timestamp_with_time_zone(SyncLeases::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(SyncLeases::TenantId)
                            .col(SyncLeases::Target),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SyncLeases::Table, SyncLeases::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The change-log position a run read the desired state at: the change-log follower
        // starts a run when the log has moved past the last successful run's position.
        manager
            .alter_table(
                Table::alter()
                    .table(SyncRuns::Table)
                    .add_column(big_integer_null(SyncRuns::ChangeSeq))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TargetLinks::Table.into_iden(),
            SyncLeases::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
