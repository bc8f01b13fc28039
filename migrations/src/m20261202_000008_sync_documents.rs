//! Offline-first documents (automerge): a compacted snapshot per document and the incremental
//! changes merged since, each with the peer and user that sent it, so a document loads as
//! snapshot + changes and its history says who changed what. Tasks gain the on-site note that
//! workers write in their task documents.

use sea_orm_migration::prelude::*;

use crate::columns::{cascade, id, index, string, string_null, ts};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000008_sync_documents"
    }
}

#[derive(DeriveIden)]
enum SyncDocuments {
    Table,
    Id,
    Kind,
    Subject,
    Snapshot,
    SnapshotVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SyncChanges {
    Table,
    Id,
    DocumentId,
    Data,
    PeerId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    OnSiteNote,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SyncDocuments::Table)
                .col(id(SyncDocuments::Id))
                .col(string(SyncDocuments::Kind, 16))
                .col(ColumnDef::new(SyncDocuments::Subject).uuid().not_null())
                .col(ColumnDef::new(SyncDocuments::Snapshot).blob().not_null())
                .col(
                    ColumnDef::new(SyncDocuments::SnapshotVersion)
                        .integer()
                        .not_null(),
                )
                .col(ts(SyncDocuments::CreatedAt))
                .col(ts(SyncDocuments::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "idx_sync_documents_subject",
                SyncDocuments::Table,
                [SyncDocuments::Kind, SyncDocuments::Subject],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SyncChanges::Table)
                .col(id(SyncChanges::Id))
                .col(ColumnDef::new(SyncChanges::DocumentId).uuid().not_null())
                .col(ColumnDef::new(SyncChanges::Data).blob().not_null())
                .col(string_null(SyncChanges::PeerId, 128))
                .col(ColumnDef::new(SyncChanges::UserId).uuid().null())
                .col(ts(SyncChanges::CreatedAt))
                .foreign_key(&mut cascade(
                    (SyncChanges::Table, SyncChanges::DocumentId),
                    (SyncDocuments::Table, SyncDocuments::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_sync_changes_document",
            SyncChanges::Table,
            [SyncChanges::DocumentId, SyncChanges::Id],
        ))
        .await?;
        m.alter_table(
            Table::alter()
                .table(Tasks::Table)
                .add_column(ColumnDef::new(Tasks::OnSiteNote).text().null())
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tasks::Table)
                .drop_column(Tasks::OnSiteNote)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(SyncChanges::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SyncDocuments::Table).to_owned())
            .await?;
        Ok(())
    }
}
