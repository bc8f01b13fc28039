use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The cursor position, set by the sequencer after commit; None until then.
    pub pos: Option<i64>,
    pub event_id: Uuid,
    pub kind: String,
    pub grid_code: Option<String>,
    /// The event's micro-grid, for the workers who serve only that.
    pub micro_grid_code: Option<String>,
    pub team_code: Option<String>,
    pub user_id: Option<Uuid>,
    pub street_code: Option<String>,
    pub payload: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
