//! Who uploaded a photo, one row per uploader. Photos are stored once under their content hash,
//! but each person who uploads the same bytes owns their upload of it: they may attach it to
//! their own reports, and no one learns from the answer that someone else sent it first.

use sea_orm_migration::prelude::*;

use crate::columns::{string, ts};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000010_photo_owners"
    }
}

#[derive(DeriveIden)]
enum PhotoOwners {
    Table,
    Sha256,
    UserId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PhotoOwners::Table)
                .col(string(PhotoOwners::Sha256, 64))
                .col(ColumnDef::new(PhotoOwners::UserId).uuid().not_null())
                .col(ts(PhotoOwners::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(PhotoOwners::Sha256)
                        .col(PhotoOwners::UserId),
                )
                .to_owned(),
        )
        .await?;
        // Every photo stored so far has its one uploader.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO photo_owners (sha256, user_id, created_at) \
                 SELECT sha256, uploaded_by, created_at FROM photos",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PhotoOwners::Table).to_owned())
            .await
    }
}
