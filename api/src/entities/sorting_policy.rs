use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sorting_policy")]
pub struct Model {
    /// `good`, `fair` or `poor`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub result: String,
    pub points: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
