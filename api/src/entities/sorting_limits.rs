use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sorting_limits")]
pub struct Model {
    /// A street's code, or `*` for the defaults.
    #[sea_orm(primary_key, auto_increment = false)]
    pub street_code: String,
    /// Ratings one account may get in one Asia/Shanghai day.
    pub ratings_per_day: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
