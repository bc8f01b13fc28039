use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patrol_limits")]
pub struct Model {
    /// A street's code, or `*` for the defaults.
    #[sea_orm(primary_key, auto_increment = false)]
    pub street_code: String,
    /// Checkpoints worth more points than this pay only for a rotating QR code.
    pub qr_above_points: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
