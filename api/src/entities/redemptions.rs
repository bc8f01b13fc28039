use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub reward_id: Uuid,
    pub idem_key: String,
    /// The points debited, as the reward cost at the time.
    pub cost: i32,
    /// `reserved`, `fulfilled` or `cancelled`.
    pub status: String,
    pub created_at: DateTimeUtc,
    pub fulfilled_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// Who fulfilled or cancelled it.
    pub closed_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
