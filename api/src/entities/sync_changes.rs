use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub document_id: Uuid,
    /// Changes merged since the snapshot, as `Automerge::save_after` writes them.
    #[sea_orm(column_type = "Blob")]
    pub data: Vec<u8>,
    /// The automerge-repo peer that sent them; None for the server's own.
    pub peer_id: Option<String>,
    /// The user behind that peer.
    pub user_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
