use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

// The `*_key` columns hold the lower-cased form of attributes that SCIM compares case-insensitively
// (RFC 7643 §4.1.1: userName is caseExact=false), so that filters and the uniqueness check use an
// index on both backends instead of `lower(...)` over every row.
#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    UserName,
    UserNameKey,
    ExternalId,
    Active,
    DisplayName,
    DisplayNameKey,
    PrimaryEmail,
    Resource,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    TenantId,
    DisplayName,
    DisplayNameKey,
    ExternalId,
    Resource,
    Version,
    CreatedAt,
    UpdatedAt,
}

// One row per membership. A member is a user or a group, each with a real foreign key so that a
// membership can never outlive its member, even when a delete races an add on another replica.
#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    Id,
    TenantId,
    GroupId,
    UserId,
    MemberGroupId,
    CreatedAt,
}

fn tenant_fk(table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::TenantId))
                    .col(text(Users::UserName))
                    .col(text(Users::UserNameKey))
                    .col(text_null(Users::ExternalId))
                    .col(boolean(Users::Active))
                    .col(text_null(Users::DisplayName))
                    .col(text_null(Users::DisplayNameKey))
                    .col(text_null(Users::PrimaryEmail))
                    .col(json_binary(Users::Resource))
                    .col(big_integer(Users::Version))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .foreign_key(&mut tenant_fk(Users::Table, Users::TenantId))
                    .to_owned(),
            )
            .await?;
        let user_indexes = [
            (
                "uq_users_tenant_user_name",
                &["tenant_id", "user_name_key"][..],
            ),
            (
                "idx_users_tenant_external_id",
                &["tenant_id", "external_id"][..],
            ),
            (
                "idx_users_tenant_display_name",
                &["tenant_id", "display_name_key"][..],
            ),
            (
                "idx_users_tenant_primary_email",
                &["tenant_id", "primary_email"][..],
            ),
            ("idx_users_tenant_active", &["tenant_id", "active"][..]),
        ];
        for (name, columns) in user_indexes {
            let mut statement = index(name, Users::Table, columns);
            if name.starts_with("uq_") {
                statement.unique();
            }
            manager.create_index(statement).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Groups::Table)
                    .col(pk_uuid(Groups::Id))
                    .col(uuid(Groups::TenantId))
                    .col(text(Groups::DisplayName))
                    .col(text(Groups::DisplayNameKey))
                    .col(text_null(Groups::ExternalId))
                    .col(json_binary(Groups::Resource))
                    .col(big_integer(Groups::Version))
                    .col(timestamp_with_time_zone(Groups::CreatedAt))
                    .col(timestamp_with_time_zone(Groups::UpdatedAt))
                    .foreign_key(&mut tenant_fk(Groups::Table, Groups::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_groups_tenant_display_name",
                Groups::Table,
                &["tenant_id", "display_name_key"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_groups_tenant_external_id",
                Groups::Table,
                &["tenant_id", "external_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GroupMembers::Table)
                    .col(big_pk_auto(GroupMembers::Id))
                    .col(uuid(GroupMembers::TenantId))
                    .col(uuid(GroupMembers::GroupId))
                    .col(uuid_null(GroupMembers::UserId))
                    .col(uuid_null(GroupMembers::MemberGroupId))
                    .col(timestamp_with_time_zone(GroupMembers::CreatedAt))
                    .foreign_key(&mut tenant_fk(GroupMembers::Table, GroupMembers::TenantId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(GroupMembers::Table, GroupMembers::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GroupMembers::Table, GroupMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(GroupMembers::Table, GroupMembers::MemberGroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(
                        Expr::col(GroupMembers::UserId)
                            .is_null()
                            .ne(Expr::col(GroupMembers::MemberGroupId).is_null()),
                    )
                    .to_owned(),
            )
            .await?;
        // Indexed both ways: group → members for group reads, member → groups for `User.groups`
        // and for the cascade when a user or group is deleted.
        for (name, columns) in [
            ("uq_group_members_user", &["group_id", "user_id"][..]),
            (
                "uq_group_members_group",
                &["group_id", "member_group_id"][..],
            ),
        ] {
            manager
                .create_index(
                    index(name, GroupMembers::Table, columns)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        for (name, column) in [
            ("idx_group_members_user", "user_id"),
            ("idx_group_members_member_group", "member_group_id"),
        ] {
            manager
                .create_index(index(name, GroupMembers::Table, &[column]))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            GroupMembers::Table.into_iden(),
            Groups::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
