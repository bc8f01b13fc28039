use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_documents")]
pub struct Model {
    /// The automerge-repo document id, as a UUID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `task`, `report` or `building`.
    pub kind: String,
    /// The row the document mirrors: a task, an event or a building.
    pub subject: Uuid,
    /// The document as last compacted (`Automerge::save`).
    #[sea_orm(column_type = "Blob")]
    pub snapshot: Vec<u8>,
    /// Raised by every compaction, so an instance holding the document knows to reload it.
    pub snapshot_version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
