use sea_orm::entity::prelude::*;

/// A street's month of reviews: whether the scheduler has generated it and whether the
/// command centre was mailed that every grid has submitted, each once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "review_months")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub street_code: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: String,
    pub scheduled_at: Option<DateTimeUtc>,
    pub notified_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
