use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patrol_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub route_id: Uuid,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    /// `qr` or `geofence`.
    pub kind: String,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub radius_m: Option<i32>,
    pub points: i32,
    pub position: i32,
    pub retired: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
