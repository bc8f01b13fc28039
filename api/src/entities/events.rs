use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub idem_key: Option<String>,
    pub request_hash: String,
    pub source: String,
    pub reporter_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub category: String,
    pub colour: String,
    pub status: String,
    pub description: String,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub building_code: Option<String>,
    pub micro_grid_code: Option<String>,
    pub grid_code: Option<String>,
    pub street_code: Option<String>,
    pub duplicate_of: Option<Uuid>,
    pub merged_into: Option<Uuid>,
    pub rating: Option<i32>,
    pub rating_comment: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
