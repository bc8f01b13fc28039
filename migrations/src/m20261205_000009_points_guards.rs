//! Points nobody can mint: the limits that keep earnings honest are data, per street (`*` holds
//! the defaults a street without a row of its own uses).
//!
//! - `points_caps`: the most points one person may earn from one source (`patrol`, `sorting`,
//!   `report`, …) in one Asia/Shanghai day. A source without a row is not capped.
//! - `sorting_limits`: how many ratings one sorting account may get in one day.
//! - `patrol_limits`: checkpoints worth more than `qr_above_points` pay only for a rotating QR
//!   code shown on a screen; cheaper ones may be printed plates or geofences.
//!
//! Sorting records learn their local day and which later record corrected them; patrol
//! check-ins learn whether they were paid or held for a coordinator's review, and why.

use sea_orm_migration::prelude::*;

use crate::columns::{index, string, string_null, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000009_points_guards"
    }
}

#[derive(DeriveIden)]
enum PointsCaps {
    Table,
    StreetCode,
    SourceKind,
    DailyCap,
}

#[derive(DeriveIden)]
enum SortingLimits {
    Table,
    StreetCode,
    RatingsPerDay,
}

#[derive(DeriveIden)]
enum PatrolLimits {
    Table,
    StreetCode,
    QrAbovePoints,
}

#[derive(DeriveIden)]
enum SortingRecords {
    Table,
    AccountId,
    Day,
    SupersededBy,
}

/// Who opened a sorting account: nobody rates an account they opened (for a puppet holder).
#[derive(DeriveIden)]
enum SortingAccounts {
    Table,
    OpenedBy,
}

#[derive(DeriveIden)]
enum PatrolCheckins {
    Table,
    Id,
    Status,
    HoldReason,
    HoldDetail,
    ReviewedBy,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum PointsLedger {
    Table,
    UserId,
    SourceKind,
    CreatedAt,
}

async fn seed(
    m: &SchemaManager<'_>,
    table: impl IntoIden,
    cols: Vec<DynIden>,
    rows: Vec<Vec<SimpleExpr>>,
) -> Result<(), DbErr> {
    let mut insert = Query::insert().into_table(table).columns(cols).take();
    for row in rows {
        insert
            .values(row)
            .map_err(|e| DbErr::Migration(e.to_string()))?;
    }
    m.exec_stmt(insert).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PointsCaps::Table)
                .col(string(PointsCaps::StreetCode, 64))
                .col(string(PointsCaps::SourceKind, 32))
                .col(ColumnDef::new(PointsCaps::DailyCap).integer().not_null())
                .primary_key(
                    Index::create()
                        .col(PointsCaps::StreetCode)
                        .col(PointsCaps::SourceKind),
                )
                .check(Expr::cust("daily_cap >= 0"))
                .to_owned(),
        )
        .await?;
        // A day of patrolling, a household's sorting, a keen reporter: generous for people,
        // small for a script.
        seed(
            m,
            PointsCaps::Table,
            vec![
                PointsCaps::StreetCode.into_iden(),
                PointsCaps::SourceKind.into_iden(),
                PointsCaps::DailyCap.into_iden(),
            ],
            [("patrol", 100), ("sorting", 10), ("report", 50)]
                .into_iter()
                .map(|(k, cap)| vec!["*".into(), k.into(), cap.into()])
                .collect(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SortingLimits::Table)
                .col(string(SortingLimits::StreetCode, 64).primary_key().take())
                .col(
                    ColumnDef::new(SortingLimits::RatingsPerDay)
                        .integer()
                        .not_null(),
                )
                .check(Expr::cust("ratings_per_day >= 1"))
                .to_owned(),
        )
        .await?;
        seed(
            m,
            SortingLimits::Table,
            vec![
                SortingLimits::StreetCode.into_iden(),
                SortingLimits::RatingsPerDay.into_iden(),
            ],
            vec![vec!["*".into(), 1.into()]],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PatrolLimits::Table)
                .col(string(PatrolLimits::StreetCode, 64).primary_key().take())
                .col(
                    ColumnDef::new(PatrolLimits::QrAbovePoints)
                        .integer()
                        .not_null(),
                )
                .check(Expr::cust("qr_above_points >= 0"))
                .to_owned(),
        )
        .await?;
        seed(
            m,
            PatrolLimits::Table,
            vec![
                PatrolLimits::StreetCode.into_iden(),
                PatrolLimits::QrAbovePoints.into_iden(),
            ],
            vec![vec!["*".into(), 10.into()]],
        )
        .await?;

        // SQLite adds one column per statement.
        for col in [
            string_null(SortingRecords::Day, 10),
            ColumnDef::new(SortingRecords::SupersededBy)
                .uuid()
                .null()
                .take(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(SortingRecords::Table)
                    .add_column(col)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(SortingAccounts::Table)
                .add_column(ColumnDef::new(SortingAccounts::OpenedBy).uuid().null())
                .to_owned(),
        )
        .await?;
        // The day's ratings of an account are counted under its row lock.
        m.create_index(index(
            "ix_sorting_records_day",
            SortingRecords::Table,
            [SortingRecords::AccountId, SortingRecords::Day],
        ))
        .await?;

        for col in [
            string(PatrolCheckins::Status, 8).default("paid").take(),
            string_null(PatrolCheckins::HoldReason, 32),
            string_null(PatrolCheckins::HoldDetail, 300),
            ColumnDef::new(PatrolCheckins::ReviewedBy)
                .uuid()
                .null()
                .take(),
            ts_null(PatrolCheckins::ReviewedAt),
        ] {
            m.alter_table(
                Table::alter()
                    .table(PatrolCheckins::Table)
                    .add_column(col)
                    .to_owned(),
            )
            .await?;
        }
        // The coordinators' queue of held check-ins.
        m.create_index(index(
            "ix_patrol_checkins_status",
            PatrolCheckins::Table,
            [PatrolCheckins::Status, PatrolCheckins::Id],
        ))
        .await?;

        // A daily cap sums one person's rows of one source since local midnight.
        m.create_index(index(
            "ix_points_user_kind_time",
            PointsLedger::Table,
            [
                PointsLedger::UserId,
                PointsLedger::SourceKind,
                PointsLedger::CreatedAt,
            ],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_points_user_kind_time")
                .table(PointsLedger::Table)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_patrol_checkins_status")
                .table(PatrolCheckins::Table)
                .to_owned(),
        )
        .await?;
        for col in [
            PatrolCheckins::ReviewedAt,
            PatrolCheckins::ReviewedBy,
            PatrolCheckins::HoldDetail,
            PatrolCheckins::HoldReason,
            PatrolCheckins::Status,
        ] {
            m.alter_table(
                Table::alter()
                    .table(PatrolCheckins::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        m.drop_index(
            Index::drop()
                .name("ix_sorting_records_day")
                .table(SortingRecords::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SortingAccounts::Table)
                .drop_column(SortingAccounts::OpenedBy)
                .to_owned(),
        )
        .await?;
        for col in [SortingRecords::SupersededBy, SortingRecords::Day] {
            m.alter_table(
                Table::alter()
                    .table(SortingRecords::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for t in [
            PatrolLimits::Table.into_iden(),
            SortingLimits::Table.into_iden(),
            PointsCaps::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
