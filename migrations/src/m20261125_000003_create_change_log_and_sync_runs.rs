use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

// The change log is the outbox: every SCIM write appends here in the same transaction as the
// change itself, so the reconciler never misses a change and never sees one that rolled back.
// `seq` orders the log per tenant; it is also the audit trail.
#[derive(DeriveIden)]
enum ChangeLog {
    Table,
    Seq,
    TenantId,
    OccurredAt,
    TokenId,
    RequestId,
    ResourceType,
    ResourceId,
    Operation,
    Detail,
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    TenantId,
    Target,
    Trigger,
    Mode,
    Status,
    StartedAt,
    FinishedAt,
    Counts,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeLog::Table)
                    .col(big_pk_auto(ChangeLog::Seq))
                    .col(uuid(ChangeLog::TenantId))
                    .col(timestamp_with_time_zone(ChangeLog::OccurredAt))
                    .col(uuid_null(ChangeLog::TokenId))
                    .col(string_len_null(ChangeLog::RequestId, 64))
                    .col(string_len(ChangeLog::ResourceType, 16))
                    .col(uuid_null(ChangeLog::ResourceId))
                    .col(string_len(ChangeLog::Operation, 32))
                    .col(json_binary_null(ChangeLog::Detail))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChangeLog::Table, ChangeLog::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_change_log_tenant_seq")
                    .table(ChangeLog::Table)
                    .col(ChangeLog::TenantId)
                    .col(ChangeLog::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SyncRuns::Table)
                    .col(pk_uuid(SyncRuns::Id))
                    .col(uuid(SyncRuns::TenantId))
                    .col(string_len(SyncRuns::Target, 32))
                    .col(string_len(SyncRuns::Trigger, 16))
                    .col(string_len(SyncRuns::Mode, 16))
                    .col(string_len(SyncRuns::Status, 16))
                    .col(timestamp_with_time_zone(SyncRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(SyncRuns::FinishedAt))
                    .col(json_binary_null(SyncRuns::Counts))
                    .col(text_null(SyncRuns::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SyncRuns::Table, SyncRuns::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sync_runs_tenant_target_started")
                    .table(SyncRuns::Table)
                    .col(SyncRuns::TenantId)
                    .col(SyncRuns::Target)
                    .col(SyncRuns::StartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncRuns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ChangeLog::Table).to_owned())
            .await
    }
}
