use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "points_caps")]
pub struct Model {
    /// A street's code, or `*` for the defaults.
    #[sea_orm(primary_key, auto_increment = false)]
    pub street_code: String,
    /// A ledger source kind: `patrol`, `sorting`, `report`, …
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_kind: String,
    /// The most points one person earns from this source in one Asia/Shanghai day.
    pub daily_cap: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
