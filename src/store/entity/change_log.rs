use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub tenant_id: Uuid,
    pub occurred_at: ChronoDateTimeUtc,
    pub token_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub operation: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub detail: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
