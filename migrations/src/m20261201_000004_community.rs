//! The volunteer force: the registry (志愿者), volunteer teams and their members, activities with
//! shifts, capacity and waitlists, signups and attendance, and call-outs (mobilisation) with the
//! roll of answers.

use sea_orm_migration::prelude::*;

use crate::columns::{id, index, string, string_null, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000004_community"
    }
}

#[derive(DeriveIden)]
enum Volunteers {
    Table,
    UserId,
    Id,
    Bio,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VolunteerAreas {
    Table,
    UserId,
    AreaCode,
}

#[derive(DeriveIden)]
enum VolunteerSkills {
    Table,
    UserId,
    Skill,
}

#[derive(DeriveIden)]
enum VolunteerTeams {
    Table,
    Id,
    Code,
    Name,
    AreaCode,
    RequiresApproval,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum VolunteerTeamMembers {
    Table,
    Id,
    TeamId,
    UserId,
    Role,
    Status,
    DecidedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Activities {
    Table,
    Id,
    Title,
    Kind,
    Description,
    AreaCode,
    TeamCode,
    Skill,
    PointsPerHour,
    Status,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Shifts {
    Table,
    Id,
    ActivityId,
    StartsAt,
    EndsAt,
    Capacity,
    Waitlist,
    Taken,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Signups {
    Table,
    Id,
    ShiftId,
    ActivityId,
    UserId,
    Status,
    AttendedAt,
    Minutes,
    AttendanceBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Callouts {
    Table,
    Id,
    Title,
    Message,
    AreaCode,
    TeamCode,
    CreatedBy,
    Called,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CalloutAnswers {
    Table,
    Id,
    CalloutId,
    UserId,
    Answer,
    AnsweredAt,
    CreatedAt,
}

fn uuid_col(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).uuid().not_null().take()
}

fn int_col(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).integer().not_null().take()
}

fn bool_col(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).boolean().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per person who volunteers; `id` (UUIDv7) orders the registry for paging.
        m.create_table(
            Table::create()
                .table(Volunteers::Table)
                .col(uuid_col(Volunteers::UserId).primary_key().take())
                .col(uuid_col(Volunteers::Id).unique_key().take())
                .col(string_null(Volunteers::Bio, 500))
                .col(ts(Volunteers::CreatedAt))
                .col(ts(Volunteers::UpdatedAt))
                .to_owned(),
        )
        .await?;

        // The areas a volunteer serves and their skills, as rows: call-outs select by area and
        // eligibility checks by skill.
        m.create_table(
            Table::create()
                .table(VolunteerAreas::Table)
                .col(uuid_col(VolunteerAreas::UserId))
                .col(string(VolunteerAreas::AreaCode, 64))
                .primary_key(
                    Index::create()
                        .col(VolunteerAreas::UserId)
                        .col(VolunteerAreas::AreaCode),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_volunteer_areas_code",
            VolunteerAreas::Table,
            [VolunteerAreas::AreaCode],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table(VolunteerSkills::Table)
                .col(uuid_col(VolunteerSkills::UserId))
                .col(string(VolunteerSkills::Skill, 32))
                .primary_key(
                    Index::create()
                        .col(VolunteerSkills::UserId)
                        .col(VolunteerSkills::Skill),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(VolunteerTeams::Table)
                .col(id(VolunteerTeams::Id))
                .col(string(VolunteerTeams::Code, 64).unique_key().take())
                .col(string(VolunteerTeams::Name, 100))
                .col(string_null(VolunteerTeams::AreaCode, 64))
                .col(bool_col(VolunteerTeams::RequiresApproval))
                .col(uuid_col(VolunteerTeams::CreatedBy))
                .col(ts(VolunteerTeams::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(VolunteerTeamMembers::Table)
                .col(id(VolunteerTeamMembers::Id))
                .col(uuid_col(VolunteerTeamMembers::TeamId))
                .col(uuid_col(VolunteerTeamMembers::UserId))
                .col(string(VolunteerTeamMembers::Role, 8))
                .col(string(VolunteerTeamMembers::Status, 8))
                .col(
                    ColumnDef::new(VolunteerTeamMembers::DecidedBy)
                        .uuid()
                        .null(),
                )
                .col(ts(VolunteerTeamMembers::CreatedAt))
                .col(ts(VolunteerTeamMembers::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // One membership per person and team: a second join is the first one.
        m.create_index(
            index(
                "uq_team_member",
                VolunteerTeamMembers::Table,
                [VolunteerTeamMembers::TeamId, VolunteerTeamMembers::UserId],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_team_members_roster",
            VolunteerTeamMembers::Table,
            [
                VolunteerTeamMembers::TeamId,
                VolunteerTeamMembers::Status,
                VolunteerTeamMembers::Id,
            ],
        ))
        .await?;
        m.create_index(index(
            "idx_team_members_user",
            VolunteerTeamMembers::Table,
            [VolunteerTeamMembers::UserId],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Activities::Table)
                .col(id(Activities::Id))
                .col(string(Activities::Title, 200))
                .col(string(Activities::Kind, 16))
                .col(ColumnDef::new(Activities::Description).text().not_null())
                .col(string_null(Activities::AreaCode, 64))
                .col(string_null(Activities::TeamCode, 64))
                .col(string_null(Activities::Skill, 32))
                .col(int_col(Activities::PointsPerHour))
                .col(string(Activities::Status, 16))
                .col(uuid_col(Activities::CreatedBy))
                .col(ts(Activities::CreatedAt))
                .to_owned(),
        )
        .await?;

        // `taken` counts confirmed places; it only moves by conditional updates
        // (`taken < capacity`), which is what keeps a rush from overselling.
        m.create_table(
            Table::create()
                .table(Shifts::Table)
                .col(id(Shifts::Id))
                .col(uuid_col(Shifts::ActivityId))
                .col(ts(Shifts::StartsAt))
                .col(ts(Shifts::EndsAt))
                .col(int_col(Shifts::Capacity))
                .col(bool_col(Shifts::Waitlist))
                .col(int_col(Shifts::Taken))
                .col(ts(Shifts::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_shifts_activity",
            Shifts::Table,
            [Shifts::ActivityId, Shifts::StartsAt],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Signups::Table)
                .col(id(Signups::Id))
                .col(uuid_col(Signups::ShiftId))
                .col(uuid_col(Signups::ActivityId))
                .col(uuid_col(Signups::UserId))
                .col(string(Signups::Status, 12))
                .col(ts_null(Signups::AttendedAt))
                .col(ColumnDef::new(Signups::Minutes).integer().null())
                .col(string_null(Signups::AttendanceBy, 12))
                .col(ts(Signups::CreatedAt))
                .col(ts(Signups::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // Nobody holds two signups for one shift, however often or from however many phones
        // they press the button.
        m.create_index(
            index(
                "uq_signup_shift_user",
                Signups::Table,
                [Signups::ShiftId, Signups::UserId],
            )
            .unique()
            .take(),
        )
        .await?;
        // The roster and the waitlist in order: the first waitlisted is the lowest id.
        m.create_index(index(
            "idx_signups_roster",
            Signups::Table,
            [Signups::ShiftId, Signups::Status, Signups::Id],
        ))
        .await?;
        m.create_index(index(
            "idx_signups_user",
            Signups::Table,
            [Signups::UserId, Signups::Id],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Callouts::Table)
                .col(id(Callouts::Id))
                .col(string(Callouts::Title, 100))
                .col(ColumnDef::new(Callouts::Message).text().not_null())
                .col(string_null(Callouts::AreaCode, 64))
                .col(string_null(Callouts::TeamCode, 64))
                .col(uuid_col(Callouts::CreatedBy))
                .col(int_col(Callouts::Called))
                .col(ts(Callouts::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CalloutAnswers::Table)
                .col(id(CalloutAnswers::Id))
                .col(uuid_col(CalloutAnswers::CalloutId))
                .col(uuid_col(CalloutAnswers::UserId))
                .col(string_null(CalloutAnswers::Answer, 4))
                .col(ts_null(CalloutAnswers::AnsweredAt))
                .col(ts(CalloutAnswers::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "uq_callout_answer",
                CalloutAnswers::Table,
                [CalloutAnswers::CalloutId, CalloutAnswers::UserId],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_callout_answers_user",
            CalloutAnswers::Table,
            [CalloutAnswers::UserId, CalloutAnswers::Id],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            CalloutAnswers::Table.into_iden(),
            Callouts::Table.into_iden(),
            Signups::Table.into_iden(),
            Shifts::Table.into_iden(),
            Activities::Table.into_iden(),
            VolunteerTeamMembers::Table.into_iden(),
            VolunteerTeams::Table.into_iden(),
            VolunteerSkills::Table.into_iden(),
            VolunteerAreas::Table.into_iden(),
            Volunteers::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
