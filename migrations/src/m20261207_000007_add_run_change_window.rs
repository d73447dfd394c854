use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    ChangeWindow,
}

// How many change-log entries a run saw just below its position. PostgreSQL numbers entries as
// they are inserted, and their transactions commit in any order, so an entry numbered below a
// run's position can become visible after the run read the store; a later count of the same
// window that comes out higher shows it (`Store::committed_late`). NULL for runs recorded
// before this column.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SyncRuns::Table)
                    .add_column(big_integer_null(SyncRuns::ChangeWindow))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SyncRuns::Table)
                    .drop_column(SyncRuns::ChangeWindow)
                    .to_owned(),
            )
            .await
    }
}
