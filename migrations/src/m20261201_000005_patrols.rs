//! Patrols (巡防): routes of checkpoints that coordinators define, the walks volunteers make of
//! them in each daily window, and their check-ins. A unique key on (user, checkpoint, window
//! occurrence) is what makes a check-in pay once, however many phones or retries send it.

use sea_orm_migration::prelude::*;

use crate::columns::{cascade, id, index, int_null, string, string_null, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000005_patrols"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PatrolRoutes {
    Table,
    Id,
    Code,
    Name,
    AreaCode,
    Windows,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PatrolCheckpoints {
    Table,
    Id,
    RouteId,
    Code,
    Name,
    Kind,
    Lng,
    Lat,
    RadiusM,
    Points,
    Position,
    Retired,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PatrolWalks {
    Table,
    Id,
    UserId,
    RouteId,
    WindowKey,
    StartedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum PatrolCheckins {
    Table,
    Id,
    IdemKey,
    RequestHash,
    UserId,
    RouteId,
    CheckpointId,
    WalkId,
    WindowKey,
    Method,
    Lng,
    Lat,
    AccuracyM,
    DistanceM,
    Points,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PatrolRoutes::Table)
                .col(id(PatrolRoutes::Id))
                .col(string(PatrolRoutes::Code, 64).unique_key().take())
                .col(string(PatrolRoutes::Name, 100))
                .col(string_null(PatrolRoutes::AreaCode, 64))
                // JSON list of {"start":"HH:MM","end":"HH:MM"} in Asia/Shanghai local time.
                .col(ColumnDef::new(PatrolRoutes::Windows).text().not_null())
                .col(ColumnDef::new(PatrolRoutes::Enabled).boolean().not_null())
                .col(ts(PatrolRoutes::CreatedAt))
                .col(ts(PatrolRoutes::UpdatedAt))
                .to_owned(),
        )
        .await?;

        // Checkpoint codes are unique across routes: a QR payload names only the checkpoint.
        m.create_table(
            Table::create()
                .table(PatrolCheckpoints::Table)
                .col(id(PatrolCheckpoints::Id))
                .col(ColumnDef::new(PatrolCheckpoints::RouteId).uuid().not_null())
                .col(string(PatrolCheckpoints::Code, 64).unique_key().take())
                .col(string(PatrolCheckpoints::Name, 100))
                .col(string(PatrolCheckpoints::Kind, 8))
                .col(ColumnDef::new(PatrolCheckpoints::Lng).double().null())
                .col(ColumnDef::new(PatrolCheckpoints::Lat).double().null())
                .col(int_null(PatrolCheckpoints::RadiusM))
                .col(
                    ColumnDef::new(PatrolCheckpoints::Points)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PatrolCheckpoints::Position)
                        .integer()
                        .not_null(),
                )
                // A checkpoint dropped from its route is kept for the check-ins that name it.
                .col(
                    ColumnDef::new(PatrolCheckpoints::Retired)
                        .boolean()
                        .not_null(),
                )
                .col(ts(PatrolCheckpoints::CreatedAt))
                .col(ts(PatrolCheckpoints::UpdatedAt))
                .foreign_key(&mut cascade(
                    (PatrolCheckpoints::Table, PatrolCheckpoints::RouteId),
                    (PatrolRoutes::Table, PatrolRoutes::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_patrol_checkpoints_route",
            PatrolCheckpoints::Table,
            [PatrolCheckpoints::RouteId, PatrolCheckpoints::Position],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(PatrolWalks::Table)
                .col(id(PatrolWalks::Id))
                .col(ColumnDef::new(PatrolWalks::UserId).uuid().not_null())
                .col(ColumnDef::new(PatrolWalks::RouteId).uuid().not_null())
                // `2026-12-01#0`: the local date a window opened and the window's index.
                .col(string(PatrolWalks::WindowKey, 16))
                .col(ts(PatrolWalks::StartedAt))
                .col(ts_null(PatrolWalks::CompletedAt))
                .foreign_key(&mut cascade(
                    (PatrolWalks::Table, PatrolWalks::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut cascade(
                    (PatrolWalks::Table, PatrolWalks::RouteId),
                    (PatrolRoutes::Table, PatrolRoutes::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "uq_patrol_walks",
                PatrolWalks::Table,
                [
                    PatrolWalks::UserId,
                    PatrolWalks::RouteId,
                    PatrolWalks::WindowKey,
                ],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_patrol_walks_user",
            PatrolWalks::Table,
            [PatrolWalks::UserId, PatrolWalks::Id],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(PatrolCheckins::Table)
                .col(id(PatrolCheckins::Id))
                // "u:{user}:{key}": the caller's own idempotency key, unique per caller.
                .col(string(PatrolCheckins::IdemKey, 200).unique_key().take())
                .col(string(PatrolCheckins::RequestHash, 64))
                .col(ColumnDef::new(PatrolCheckins::UserId).uuid().not_null())
                .col(ColumnDef::new(PatrolCheckins::RouteId).uuid().not_null())
                .col(
                    ColumnDef::new(PatrolCheckins::CheckpointId)
                        .uuid()
                        .not_null(),
                )
                .col(ColumnDef::new(PatrolCheckins::WalkId).uuid().not_null())
                .col(string(PatrolCheckins::WindowKey, 16))
                .col(string(PatrolCheckins::Method, 8))
                .col(ColumnDef::new(PatrolCheckins::Lng).double().null())
                .col(ColumnDef::new(PatrolCheckins::Lat).double().null())
                .col(ColumnDef::new(PatrolCheckins::AccuracyM).double().null())
                .col(ColumnDef::new(PatrolCheckins::DistanceM).double().null())
                .col(ColumnDef::new(PatrolCheckins::Points).integer().not_null())
                .col(ts(PatrolCheckins::CreatedAt))
                .foreign_key(&mut cascade(
                    (PatrolCheckins::Table, PatrolCheckins::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut cascade(
                    (PatrolCheckins::Table, PatrolCheckins::CheckpointId),
                    (PatrolCheckpoints::Table, PatrolCheckpoints::Id),
                ))
                .foreign_key(&mut cascade(
                    (PatrolCheckins::Table, PatrolCheckins::WalkId),
                    (PatrolWalks::Table, PatrolWalks::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The pay-once rule: one check-in per user, checkpoint and window occurrence.
        m.create_index(
            index(
                "uq_patrol_checkins_once",
                PatrolCheckins::Table,
                [
                    PatrolCheckins::UserId,
                    PatrolCheckins::CheckpointId,
                    PatrolCheckins::WindowKey,
                ],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_patrol_checkins_walk",
            PatrolCheckins::Table,
            [PatrolCheckins::WalkId],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PatrolCheckins::Table.into_iden(),
            PatrolWalks::Table.into_iden(),
            PatrolCheckpoints::Table.into_iden(),
            PatrolRoutes::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
