//! Indexes for two reads that grow with the data: the feed by its audience, and a grid's health.
//!
//! - `idx_outbox_grid`, `idx_outbox_micro_grid`, `idx_outbox_team`, `idx_outbox_user`: a grid
//!   worker, team member or citizen catching up (`GET /api/v1/feed?after=`, a websocket's
//!   replay) reads the rows addressed to them after a position; with millions of rows for
//!   others in the table, each branch of their condition is one index range.
//! - `idx_events_grid_cover` replaces `idx_events_grid_time` (grid, time): with the columns the
//!   health score counts by (status, category, source, colour, building, micro-grid, id), a
//!   grid's window — or a street's grids' — is read from the index alone, never row by row.

use sea_orm_migration::prelude::*;

use crate::columns::index;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000015_read_indexes"
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

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    Id,
    GridCode,
    CreatedAt,
    Status,
    Category,
    Source,
    Colour,
    BuildingCode,
    MicroGridCode,
}

const COVER: [Events; 9] = [
    Events::GridCode,
    Events::CreatedAt,
    Events::Status,
    Events::Category,
    Events::Source,
    Events::Colour,
    Events::BuildingCode,
    Events::MicroGridCode,
    Events::Id,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, col) in INDEXES {
            m.create_index(index(name, Outbox::Table, [col, Outbox::Pos]))
                .await?;
        }
        m.create_index(index("idx_events_grid_cover", Events::Table, COVER))
            .await?;
        m.drop_index(
            Index::drop()
                .name("idx_events_grid_time")
                .table(Events::Table)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index(
            "idx_events_grid_time",
            Events::Table,
            [Events::GridCode, Events::CreatedAt],
        ))
        .await?;
        m.drop_index(
            Index::drop()
                .name("idx_events_grid_cover")
                .table(Events::Table)
                .to_owned(),
        )
        .await?;
        for (name, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table(Outbox::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
