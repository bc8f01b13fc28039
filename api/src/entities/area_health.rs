use sea_orm::entity::prelude::*;

/// One grid's health on one Asia/Shanghai day: the last figures computed that day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "area_health")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub area_code: String,
    /// The Asia/Shanghai day, `YYYY-MM-DD`.
    pub day: String,
    pub score: i64,
    /// `green`, `blue`, `yellow`, `orange` or `red`.
    pub colour: String,
    /// JSON list of `health::score::Contribution`.
    pub contributions: String,
    /// The street's rules' row the figures were weighed by (the street, or `*`).
    pub rules_from: String,
    pub computed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
