//! The feed read by its audience.
//!
//! - `idx_outbox_grid`, `idx_outbox_micro_grid`, `idx_outbox_team`, `idx_outbox_user`: a grid
//!   worker, team member or citizen catching up (`GET /api/v1/feed?after=`, a websocket's
//!   replay) reads the rows addressed to them after a position; with millions of rows for
//!   others in the table, each branch of their condition is one index range.

use sea_orm_migration::prelude::*;

use crate::columns::index;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000015_outbox_audience"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Outbox {
    Table,
    Pos,
    GridCode,
    MicroGridCode,
    TeamCode,
    UserId,
}

const INDEXES: [(&str, Outbox); 4] = [
    ("idx_outbox_grid", Outbox::GridCode),
    ("idx_outbox_micro_grid", Outbox::MicroGridCode),
    ("idx_outbox_team", Outbox::TeamCode),
    ("idx_outbox_user", Outbox::UserId),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, col) in INDEXES {
            m.create_index(index(name, Outbox::Table, [col, Outbox::Pos]))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table(Outbox::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
