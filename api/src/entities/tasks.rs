use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    /// `grid` or `team`.
    pub assignee_kind: String,
    pub assignee_code: String,
    pub open: bool,
    pub colour: String,
    pub sign_due: Option<DateTimeUtc>,
    pub arrive_due: Option<DateTimeUtc>,
    pub handle_due: Option<DateTimeUtc>,
    pub signed_at: Option<DateTimeUtc>,
    pub arrived_at: Option<DateTimeUtc>,
    pub handled_at: Option<DateTimeUtc>,
    /// `none`, `yellow` or `red` (亮灯督办).
    pub light: String,
    pub escalated_to: Option<String>,
    pub feedback: Option<String>,
    /// What the worker noted on site, from the task's document.
    pub on_site_note: Option<String>,
    pub created_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::events::Entity",
        from = "Column::EventId",
        to = "super::events::Column::Id"
    )]
    Event,
}

impl Related<super::events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
