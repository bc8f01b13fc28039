use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patrol_checkins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub idem_key: String,
    pub request_hash: String,
    pub user_id: Uuid,
    pub route_id: Uuid,
    pub checkpoint_id: Uuid,
    pub walk_id: Uuid,
    pub window_key: String,
    /// `scan` or `location`.
    pub method: String,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub distance_m: Option<f64>,
    /// What the check-in paid: 0 while it is held or when it was rejected.
    pub points: i32,
    pub created_at: DateTimeUtc,
    /// `paid`, `held` (waiting for a coordinator) or `rejected`.
    pub status: String,
    /// Why it was held: a `patrols::plausibility::HoldReason`.
    pub hold_reason: Option<String>,
    pub hold_detail: Option<String>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
