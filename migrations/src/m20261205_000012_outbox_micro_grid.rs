//! Live rows name the micro-grid of their event beside its grid, so a worker who serves one
//! micro-grid hears what happens in it, as the event list and the access table already let them
//! see it.

use sea_orm_migration::prelude::*;

use crate::columns::string_null;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000012_outbox_micro_grid"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    MicroGridCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .add_column(string_null(Outbox::MicroGridCode, 64))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .drop_column(Outbox::MicroGridCode)
                .to_owned(),
        )
        .await
    }
}
