use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "health_rules")]
pub struct Model {
    /// A street's code, or `*` for the defaults.
    #[sea_orm(primary_key, auto_increment = false)]
    pub street_code: String,
    /// The rules as a JSON document (`health::rules::HealthRules`).
    pub rules: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
