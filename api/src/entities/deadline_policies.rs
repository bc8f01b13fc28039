use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deadline_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub street_code: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub colour: String,
    pub accept_secs: Option<i32>,
    pub dispatch_secs: Option<i32>,
    pub sign_secs: Option<i32>,
    pub arrive_secs: Option<i32>,
    pub handle_secs: Option<i32>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
