//! Monthly reviews (网格月度研判报告):
//! - `reviews`: one row per area (a grid, a community or the street), Asia/Shanghai month and
//!   version. The figures are generated once and kept as JSON; the area's worker writes an
//!   assessment while the version is a draft and submits it, after which the row never changes
//!   but for the command centre's read mark. A correction is the next version, a new row.
//! - `review_comments`: the command centre's (and the area's workers') comments on a review.
//! - `review_months`: one row per street and month, the claim that makes a month's scheduled
//!   generation and the mail "every grid has submitted" happen once, whatever the number of
//!   instances.

use sea_orm_migration::prelude::*;

use crate::columns::{cascade, id, index, string, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000014_reviews"
    }
}

#[derive(DeriveIden)]
enum Reviews {
    Table,
    Id,
    Scope,
    AreaCode,
    StreetCode,
    Month,
    Version,
    Figures,
    Assessment,
    Status,
    GeneratedAt,
    GeneratedBy,
    SubmittedBy,
    SubmittedAt,
    ReadBy,
    ReadAt,
}

#[derive(DeriveIden)]
enum ReviewComments {
    Table,
    Id,
    ReviewId,
    AuthorId,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReviewMonths {
    Table,
    StreetCode,
    Month,
    ScheduledAt,
    NotifiedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Reviews::Table)
                .col(id(Reviews::Id))
                .col(string(Reviews::Scope, 16))
                .col(string(Reviews::AreaCode, 64))
                .col(string(Reviews::StreetCode, 64))
                .col(string(Reviews::Month, 7))
                .col(ColumnDef::new(Reviews::Version).integer().not_null())
                .col(ColumnDef::new(Reviews::Figures).text().not_null())
                .col(ColumnDef::new(Reviews::Assessment).text().null())
                .col(string(Reviews::Status, 16))
                .col(ts(Reviews::GeneratedAt))
                .col(ColumnDef::new(Reviews::GeneratedBy).uuid().null())
                .col(ColumnDef::new(Reviews::SubmittedBy).uuid().null())
                .col(ts_null(Reviews::SubmittedAt))
                .col(ColumnDef::new(Reviews::ReadBy).uuid().null())
                .col(ts_null(Reviews::ReadAt))
                .to_owned(),
        )
        .await?;
        // One row per version: two generations of the same month collide here.
        m.create_index(
            index(
                "uq_reviews_version",
                Reviews::Table,
                [Reviews::AreaCode, Reviews::Month, Reviews::Version],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_reviews_street_month",
            Reviews::Table,
            [Reviews::StreetCode, Reviews::Month],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(ReviewComments::Table)
                .col(id(ReviewComments::Id))
                .col(ColumnDef::new(ReviewComments::ReviewId).uuid().not_null())
                .col(ColumnDef::new(ReviewComments::AuthorId).uuid().not_null())
                .col(ColumnDef::new(ReviewComments::Body).text().not_null())
                .col(ts(ReviewComments::CreatedAt))
                .foreign_key(&mut cascade(
                    (ReviewComments::Table, ReviewComments::ReviewId),
                    (Reviews::Table, Reviews::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_review_comments_review",
            ReviewComments::Table,
            [ReviewComments::ReviewId],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(ReviewMonths::Table)
                .col(string(ReviewMonths::StreetCode, 64))
                .col(string(ReviewMonths::Month, 7))
                .col(ts_null(ReviewMonths::ScheduledAt))
                .col(ts_null(ReviewMonths::NotifiedAt))
                .primary_key(
                    Index::create()
                        .col(ReviewMonths::StreetCode)
                        .col(ReviewMonths::Month),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReviewMonths::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ReviewComments::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Reviews::Table).to_owned())
            .await
    }
}
