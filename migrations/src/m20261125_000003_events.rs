//! The event loop: categories and deadline policies, events from every source with their tasks
//! and append-only timelines, photos, the outbox that live delivery and catch-up read, mail to
//! send, and the points ledger.

use sea_orm_migration::prelude::*;

use crate::columns::{id, index, int_null, string, string_null, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000003_events"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Email,
}

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    Code,
    NameZh,
    NameEn,
    Colour,
    Handler,
    Points,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DeadlinePolicies {
    Table,
    StreetCode,
    Colour,
    AcceptSecs,
    DispatchSecs,
    SignSecs,
    ArriveSecs,
    HandleSecs,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    IdemKey,
    RequestHash,
    Source,
    ReporterId,
    ApiKeyId,
    Category,
    Colour,
    Status,
    Description,
    Lng,
    Lat,
    BuildingCode,
    MicroGridCode,
    GridCode,
    StreetCode,
    DuplicateOf,
    MergedInto,
    Rating,
    RatingComment,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    EventId,
    AssigneeKind,
    AssigneeCode,
    Open,
    Colour,
    SignDue,
    ArriveDue,
    HandleDue,
    SignedAt,
    ArrivedAt,
    HandledAt,
    Light,
    EscalatedTo,
    Feedback,
    CreatedAt,
    ClosedAt,
}

#[derive(DeriveIden)]
enum Timeline {
    Table,
    Id,
    EventId,
    TaskId,
    ActorKind,
    ActorId,
    Action,
    FromStatus,
    ToStatus,
    Detail,
    At,
}

#[derive(DeriveIden)]
enum EventPhotos {
    Table,
    EventId,
    Sha256,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Photos {
    Table,
    Sha256,
    Mime,
    Width,
    Height,
    Bytes,
    UploadedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Pos,
    EventId,
    Kind,
    GridCode,
    TeamCode,
    UserId,
    StreetCode,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EmailOutbox {
    Table,
    Id,
    ToAddr,
    Subject,
    Body,
    Attempts,
    ClaimedUntil,
    SentAt,
    LastError,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PointsLedger {
    Table,
    Id,
    UserId,
    SourceKind,
    SourceId,
    Amount,
    Note,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(string_null(Users::Email, 254))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Categories::Table)
                .col(id(Categories::Id))
                .col(string(Categories::Code, 64).unique_key().take())
                .col(string(Categories::NameZh, 64))
                .col(string(Categories::NameEn, 64))
                .col(string(Categories::Colour, 8))
                .col(string(Categories::Handler, 32))
                .col(
                    ColumnDef::new(Categories::Points)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(ts(Categories::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DeadlinePolicies::Table)
                .col(string(DeadlinePolicies::StreetCode, 64))
                .col(string(DeadlinePolicies::Colour, 8))
                .col(int_null(DeadlinePolicies::AcceptSecs))
                .col(int_null(DeadlinePolicies::DispatchSecs))
                .col(int_null(DeadlinePolicies::SignSecs))
                .col(int_null(DeadlinePolicies::ArriveSecs))
                .col(int_null(DeadlinePolicies::HandleSecs))
                .col(ts(DeadlinePolicies::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(DeadlinePolicies::StreetCode)
                        .col(DeadlinePolicies::Colour),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(id(Events::Id))
                // "principal:key": the caller's own idempotency key, unique per caller.
                .col(string_null(Events::IdemKey, 200).unique_key().take())
                .col(string(Events::RequestHash, 64))
                .col(string(Events::Source, 16))
                .col(ColumnDef::new(Events::ReporterId).uuid().null())
                .col(ColumnDef::new(Events::ApiKeyId).uuid().null())
                .col(string(Events::Category, 64))
                .col(string(Events::Colour, 8))
                .col(string(Events::Status, 16))
                .col(
                    ColumnDef::new(Events::Description)
                        .string_len(2000)
                        .not_null(),
                )
                .col(ColumnDef::new(Events::Lng).double().null())
                .col(ColumnDef::new(Events::Lat).double().null())
                .col(string_null(Events::BuildingCode, 64))
                .col(string_null(Events::MicroGridCode, 64))
                .col(string_null(Events::GridCode, 64))
                .col(string_null(Events::StreetCode, 64))
                .col(ColumnDef::new(Events::DuplicateOf).uuid().null())
                .col(ColumnDef::new(Events::MergedInto).uuid().null())
                .col(int_null(Events::Rating))
                .col(string_null(Events::RatingComment, 500))
                .col(ts(Events::CreatedAt))
                .col(ts(Events::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_events_reporter",
            Events::Table,
            [Events::ReporterId, Events::Id],
        ))
        .await?;
        m.create_index(index(
            "idx_events_status",
            Events::Table,
            [Events::Status, Events::Id],
        ))
        .await?;
        m.create_index(index(
            "idx_events_dup",
            Events::Table,
            [Events::Category, Events::CreatedAt],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(id(Tasks::Id))
                .col(ColumnDef::new(Tasks::EventId).uuid().not_null())
                .col(string(Tasks::AssigneeKind, 8))
                .col(string(Tasks::AssigneeCode, 64))
                .col(ColumnDef::new(Tasks::Open).boolean().not_null())
                .col(string(Tasks::Colour, 8))
                .col(ts_null(Tasks::SignDue))
                .col(ts_null(Tasks::ArriveDue))
                .col(ts_null(Tasks::HandleDue))
                .col(ts_null(Tasks::SignedAt))
                .col(ts_null(Tasks::ArrivedAt))
                .col(ts_null(Tasks::HandledAt))
                .col(string(Tasks::Light, 8))
                .col(string_null(Tasks::EscalatedTo, 64))
                .col(string_null(Tasks::Feedback, 2000))
                .col(ts(Tasks::CreatedAt))
                .col(ts_null(Tasks::ClosedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_tasks_event",
            Tasks::Table,
            [Tasks::EventId, Tasks::Id],
        ))
        .await?;
        m.create_index(index(
            "idx_tasks_open",
            Tasks::Table,
            [Tasks::Open, Tasks::AssigneeCode],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Timeline::Table)
                .col(id(Timeline::Id))
                .col(ColumnDef::new(Timeline::EventId).uuid().not_null())
                .col(ColumnDef::new(Timeline::TaskId).uuid().null())
                .col(string(Timeline::ActorKind, 16))
                .col(ColumnDef::new(Timeline::ActorId).uuid().null())
                .col(string(Timeline::Action, 32))
                .col(string_null(Timeline::FromStatus, 16))
                .col(string_null(Timeline::ToStatus, 16))
                .col(ColumnDef::new(Timeline::Detail).text().not_null())
                .col(ts(Timeline::At))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_timeline_event",
            Timeline::Table,
            [Timeline::EventId, Timeline::Id],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Photos::Table)
                .col(string(Photos::Sha256, 64).primary_key().take())
                .col(string(Photos::Mime, 32))
                .col(ColumnDef::new(Photos::Width).integer().not_null())
                .col(ColumnDef::new(Photos::Height).integer().not_null())
                .col(ColumnDef::new(Photos::Bytes).big_integer().not_null())
                .col(ColumnDef::new(Photos::UploadedBy).uuid().not_null())
                .col(ts(Photos::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EventPhotos::Table)
                .col(ColumnDef::new(EventPhotos::EventId).uuid().not_null())
                .col(string(EventPhotos::Sha256, 64))
                .col(string(EventPhotos::Role, 16))
                .col(ts(EventPhotos::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(EventPhotos::EventId)
                        .col(EventPhotos::Sha256)
                        .col(EventPhotos::Role),
                )
                .to_owned(),
        )
        .await?;

        // Photo access asks which events show a photo.
        m.create_index(index(
            "idx_event_photos_sha",
            EventPhotos::Table,
            [EventPhotos::Sha256],
        ))
        .await?;

        // Rows get `pos` only from the sequencer, in commit order, so a cursor never skips a
        // row that committed late.
        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .col(id(Outbox::Id))
                .col(
                    ColumnDef::new(Outbox::Pos)
                        .big_integer()
                        .null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Outbox::EventId).uuid().not_null())
                .col(string(Outbox::Kind, 32))
                .col(string_null(Outbox::GridCode, 64))
                .col(string_null(Outbox::TeamCode, 64))
                .col(ColumnDef::new(Outbox::UserId).uuid().null())
                .col(string_null(Outbox::StreetCode, 64))
                .col(ColumnDef::new(Outbox::Payload).text().not_null())
                .col(ts(Outbox::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EmailOutbox::Table)
                .col(id(EmailOutbox::Id))
                .col(string(EmailOutbox::ToAddr, 254))
                .col(string(EmailOutbox::Subject, 200))
                .col(ColumnDef::new(EmailOutbox::Body).text().not_null())
                .col(
                    ColumnDef::new(EmailOutbox::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(ts_null(EmailOutbox::ClaimedUntil))
                .col(ts_null(EmailOutbox::SentAt))
                .col(string_null(EmailOutbox::LastError, 500))
                .col(ts(EmailOutbox::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_email_pending",
            EmailOutbox::Table,
            [EmailOutbox::SentAt, EmailOutbox::Id],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(PointsLedger::Table)
                .col(id(PointsLedger::Id))
                .col(ColumnDef::new(PointsLedger::UserId).uuid().not_null())
                .col(string(PointsLedger::SourceKind, 32))
                .col(string(PointsLedger::SourceId, 100))
                .col(ColumnDef::new(PointsLedger::Amount).integer().not_null())
                .col(string_null(PointsLedger::Note, 200))
                .col(ts(PointsLedger::CreatedAt))
                .to_owned(),
        )
        .await?;
        // One row per source and account: a retried or replayed award never pays twice.
        m.create_index(
            index(
                "uq_points_source",
                PointsLedger::Table,
                [
                    PointsLedger::UserId,
                    PointsLedger::SourceKind,
                    PointsLedger::SourceId,
                ],
            )
            .unique()
            .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PointsLedger::Table.into_iden(),
            EmailOutbox::Table.into_iden(),
            Outbox::Table.into_iden(),
            EventPhotos::Table.into_iden(),
            Photos::Table.into_iden(),
            Timeline::Table.into_iden(),
            Tasks::Table.into_iden(),
            Events::Table.into_iden(),
            DeadlinePolicies::Table.into_iden(),
            Categories::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::Email)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
