//! Group memberships, one row each. Every change is a delta on rows: an add inserts (and ignores
//! rows that exist), a remove deletes exactly its rows. No member list is ever read, modified and
//! written back, so concurrent PATCHes to one group cannot lose each other's members.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, JoinType, OnConflict, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter};
use uuid::Uuid;

use super::entity::{group_members, groups, users};
use super::shaped::Shape;
use super::{Store, Via, error};
use crate::domain::{
    DomainError, GroupId, Member, MemberKind, MemberRef, MemberValue, TenantId, UserGroup, UserId,
};

/// Rows per statement in batched inserts and `IN` lists; far below SQLite's and PostgreSQL's
/// parameter limits.
const BATCH: usize = 500;

/// Member references resolved within a tenant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemberResolution {
    /// Users and groups of the tenant, in the order first named, without repeats.
    pub found: Vec<MemberRef>,
    /// Values that are not the id of a user or group of the tenant, as sent.
    pub unknown: Vec<String>,
}

impl Store {
    /// Finds which of `values` name users or groups of the tenant. A value whose `type` says
    /// User is only looked up among users, and likewise for Group.
    pub(crate) async fn resolve_members(
        &self,
        connection: &impl ConnectionTrait,
        tenant_id: TenantId,
        values: &[MemberValue],
    ) -> Result<MemberResolution, DomainError> {
        let parsed: Vec<(Option<Uuid>, &MemberValue)> = values
            .iter()
            .map(|v| (Uuid::parse_str(v.value.trim()).ok(), v))
            .collect();
        let wanted = |kind: MemberKind| -> Vec<Uuid> {
            parsed
                .iter()
                .filter(|(_, v)| v.kind.is_none_or(|k| k == kind))
                .filter_map(|(id, _)| *id)
                .collect()
        };
        let user_ids =
            existing_ids::<users::Entity>(connection, tenant_id, &wanted(MemberKind::User)).await?;
        let group_ids =
            existing_ids::<groups::Entity>(connection, tenant_id, &wanted(MemberKind::Group))
                .await?;

        let mut resolution = MemberResolution::default();
        let mut seen = HashSet::new();
        for (id, value) in parsed {
            let found = id.and_then(|id| {
                let as_user = value.kind != Some(MemberKind::Group) && user_ids.contains(&id);
                let as_group = value.kind != Some(MemberKind::User) && group_ids.contains(&id);
                if as_user {
                    Some(MemberRef::User(UserId::from_uuid(id)))
                } else if as_group {
                    Some(MemberRef::Group(GroupId::from_uuid(id)))
                } else {
                    None
                }
            });
            match found {
                Some(member) if seen.insert(member) => resolution.found.push(member),
                Some(_) => {}
                None => resolution.unknown.push(value.value.clone()),
            }
        }
        Ok(resolution)
    }

    /// Inserts membership rows; rows that exist already are left alone. Returns how many rows
    /// were new. A group is never made a member of itself.
    pub(crate) async fn add_member_rows(
        &self,
        connection: &impl ConnectionTrait,
        tenant_id: TenantId,
        group_id: GroupId,
        members: &[MemberRef],
    ) -> Result<u64, DomainError> {
        let now = self.clock.now();
        let mut added = 0;
        for chunk in members.chunks(BATCH) {
            let mut insert = Query::insert();
            insert
                .into_table(group_members::Entity)
                .columns([
                    group_members::Column::TenantId,
                    group_members::Column::GroupId,
                    group_members::Column::UserId,
                    group_members::Column::MemberGroupId,
                    group_members::Column::CreatedAt,
                ])
                .on_conflict(OnConflict::new().do_nothing().to_owned());
            let mut rows = 0;
            for member in chunk {
                let (user, group) = match member {
                    MemberRef::User(id) => (Some(id.as_uuid()), None),
                    MemberRef::Group(id) if *id == group_id => continue,
                    MemberRef::Group(id) => (None, Some(id.as_uuid())),
                };
                insert
                    .values([
                        tenant_id.as_uuid().into(),
                        group_id.as_uuid().into(),
                        user.into(),
                        group.into(),
                        now.into(),
                    ])
                    .map_err(|e| DomainError::Internal(e.to_string()))?;
                rows += 1;
            }
            if rows > 0 {
                added += connection
                    .execute(&insert)
                    .await
                    .map_err(error::classify)?
                    .rows_affected();
            }
        }
        Ok(added)
    }

    /// Deletes exactly these members' rows. Returns how many existed.
    pub(crate) async fn remove_member_rows(
        &self,
        connection: &impl ConnectionTrait,
        group_id: GroupId,
        members: &[MemberRef],
    ) -> Result<u64, DomainError> {
        let mut removed = 0;
        for chunk in members.chunks(BATCH) {
            let (user_ids, group_ids) = split(chunk);
            removed += group_members::Entity::delete_many()
                .filter(group_members::Column::GroupId.eq(group_id.as_uuid()))
                .filter(
                    group_members::Column::UserId
                        .is_in(user_ids)
                        .or(group_members::Column::MemberGroupId.is_in(group_ids)),
                )
                .exec(connection)
                .await
                .map_err(error::classify)?
                .rows_affected;
        }
        Ok(removed)
    }

    /// Deletes every member row of a group. Returns how many there were.
    pub(crate) async fn remove_all_member_rows(
        &self,
        connection: &impl ConnectionTrait,
        group_id: GroupId,
    ) -> Result<u64, DomainError> {
        Ok(group_members::Entity::delete_many()
            .filter(group_members::Column::GroupId.eq(group_id.as_uuid()))
            .exec(connection)
            .await
            .map_err(error::classify)?
            .rows_affected)
    }

    /// A group's members with their current display names, in the order they were added.
    pub(crate) async fn member_rows(
        &self,
        via: Via<'_>,
        group_id: GroupId,
    ) -> Result<Vec<Member>, DomainError> {
        let mut all = self.members_of_groups(via, &[group_id]).await?;
        Ok(all.remove(&group_id).unwrap_or_default())
    }

    /// The members of each of `group_ids`, in one query per batch of groups.
    pub(crate) async fn members_of_groups(
        &self,
        via: Via<'_>,
        group_ids: &[GroupId],
    ) -> Result<HashMap<GroupId, Vec<Member>>, DomainError> {
        let mut members: HashMap<GroupId, Vec<Member>> = HashMap::new();
        for chunk in group_ids.chunks(BATCH) {
            let rows: Vec<MemberOfGroup> = self.rows_via(via, &members_query(chunk)).await?;
            for row in rows {
                let member = match (row.user_id, row.member_group_id) {
                    (Some(id), _) => MemberRef::User(UserId::from_uuid(id)),
                    (None, Some(id)) => MemberRef::Group(GroupId::from_uuid(id)),
                    (None, None) => {
                        return Err(DomainError::Internal(
                            "membership row without member".into(),
                        ));
                    }
                };
                members
                    .entry(GroupId::from_uuid(row.group_id))
                    .or_default()
                    .push(Member {
                        member,
                        display: row.display,
                    });
            }
        }
        Ok(members)
    }

    /// The groups each of `user_ids` is a direct member of, in one query per batch of users.
    pub(crate) async fn groups_of_users(
        &self,
        via: Via<'_>,
        user_ids: &[UserId],
    ) -> Result<HashMap<UserId, Vec<UserGroup>>, DomainError> {
        let mut groups_by_user: HashMap<UserId, Vec<UserGroup>> = HashMap::new();
        // A lookup by key (`userName eq "…"`) finds one user.
        if let (Via::Point, [id]) = (via, user_ids) {
            groups_by_user.insert(*id, self.groups_of_user(*id).await?);
            return Ok(groups_by_user);
        }
        for chunk in user_ids.chunks(BATCH) {
            let rows: Vec<GroupOfUser> = self.rows_via(via, &groups_of_users_query(chunk)).await?;
            for row in rows {
                let (user_id, group) = row.parts();
                groups_by_user.entry(user_id).or_default().push(group);
            }
        }
        Ok(groups_by_user)
    }

    /// The groups one user is a direct member of, oldest membership first: the same read for
    /// one user, of a fixed shape (`shaped`).
    pub(crate) async fn groups_of_user(&self, id: UserId) -> Result<Vec<UserGroup>, DomainError> {
        let values = vec![id.as_uuid().into()];
        let query = || groups_of_users_query(&[id]);
        let rows: Vec<GroupOfUser> = self.read_shaped(Shape::GroupsOfUser, values, query).await?;
        Ok(rows.into_iter().map(|row| row.parts().1).collect())
    }
}

/// A member of one of the groups, with the name it is shown by.
#[derive(FromQueryResult, serde::Deserialize)]
struct MemberOfGroup {
    group_id: Uuid,
    user_id: Option<Uuid>,
    member_group_id: Option<Uuid>,
    display: Option<String>,
}

/// The memberships of `group_ids`, oldest first, each with its member's display name (a user's
/// displayName, else its userName; a group's displayName).
fn members_query(group_ids: &[GroupId]) -> SelectStatement {
    let (member, user, group) = ("m", "u", "g");
    Query::select()
        .expr_as(Expr::col((member, "group_id")), "group_id")
        .expr_as(Expr::col((member, "user_id")), "user_id")
        .expr_as(Expr::col((member, "member_group_id")), "member_group_id")
        .expr_as(
            Expr::col((user, "display_name"))
                .if_null(Expr::col((user, "user_name")))
                .if_null(Expr::col((group, "display_name"))),
            "display",
        )
        .from_as(group_members::Entity, member)
        .join_as(
            JoinType::LeftJoin,
            users::Entity,
            user,
            Expr::col((user, "id")).equals((member, "user_id")),
        )
        .join_as(
            JoinType::LeftJoin,
            groups::Entity,
            group,
            Expr::col((group, "id")).equals((member, "member_group_id")),
        )
        .and_where(Expr::col((member, "group_id")).is_in(group_ids.iter().map(|id| id.as_uuid())))
        .order_by((member, "id"), sea_orm::Order::Asc)
        .to_owned()
}

/// A group one of the users is in.
#[derive(FromQueryResult, serde::Deserialize)]
struct GroupOfUser {
    user_id: Uuid,
    id: Uuid,
    display_name: String,
}

impl GroupOfUser {
    fn parts(self) -> (UserId, UserGroup) {
        let group = UserGroup {
            id: GroupId::from_uuid(self.id),
            display: self.display_name,
        };
        (UserId::from_uuid(self.user_id), group)
    }
}

/// The memberships of `user_ids` with their groups' names, oldest first.
fn groups_of_users_query(user_ids: &[UserId]) -> SelectStatement {
    Query::select()
        .column((group_members::Entity, group_members::Column::UserId))
        .column((groups::Entity, groups::Column::Id))
        .column((groups::Entity, groups::Column::DisplayName))
        .from(group_members::Entity)
        .inner_join(
            groups::Entity,
            Expr::col((groups::Entity, groups::Column::Id))
                .equals((group_members::Entity, group_members::Column::GroupId)),
        )
        .and_where(
            Expr::col((group_members::Entity, group_members::Column::UserId))
                .is_in(user_ids.iter().map(|id| id.as_uuid())),
        )
        .order_by(
            (group_members::Entity, group_members::Column::Id),
            sea_orm::Order::Asc,
        )
        .to_owned()
}

fn split(members: &[MemberRef]) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut user_ids = Vec::new();
    let mut group_ids = Vec::new();
    for member in members {
        match member {
            MemberRef::User(id) => user_ids.push(id.as_uuid()),
            MemberRef::Group(id) => group_ids.push(id.as_uuid()),
        }
    }
    (user_ids, group_ids)
}

/// Which of `ids` are rows of `E` (users or groups) in the tenant.
async fn existing_ids<E>(
    connection: &impl ConnectionTrait,
    tenant_id: TenantId,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, DomainError>
where
    E: EntityTrait,
{
    let id_column = Expr::col((E::default(), "id"));
    let tenant_column = Expr::col((E::default(), "tenant_id"));
    let mut found = HashSet::new();
    for chunk in ids.chunks(BATCH) {
        let statement = Query::select()
            .expr_as(id_column.clone(), "id")
            .from(E::default())
            .and_where(tenant_column.clone().eq(tenant_id.as_uuid()))
            .and_where(id_column.clone().is_in(chunk.iter().copied()))
            .to_owned();
        for row in connection
            .query_all(&statement)
            .await
            .map_err(error::classify)?
        {
            found.insert(row.try_get::<Uuid>("", "id").map_err(error::classify)?);
        }
    }
    Ok(found)
}
