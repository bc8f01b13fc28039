use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "signups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub shift_id: Uuid,
    pub activity_id: Uuid,
    pub user_id: Uuid,
    /// `confirmed`, `waitlisted` or `cancelled`.
    pub status: String,
    pub attended_at: Option<DateTimeUtc>,
    /// Minutes of service credited.
    pub minutes: Option<i32>,
    /// `scan` or `coordinator`.
    pub attendance_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
