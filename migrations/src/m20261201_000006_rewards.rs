//! Rewards (积分兑换) and garbage sorting (垃圾分类): the reward catalogue and its redemptions,
//! sorting accounts of households and renters, their records, and the points a record earns per
//! result. Points themselves stay in `points_ledger`; nothing here stores a balance.

use sea_orm_migration::prelude::*;

use crate::columns::{cascade, id, index, int_null, string, string_null, ts, ts_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000006_rewards"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PointsLedger {
    Table,
    UserId,
    Amount,
}

#[derive(DeriveIden)]
enum Rewards {
    Table,
    Id,
    Code,
    Name,
    Kind,
    Cost,
    Stock,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Redemptions {
    Table,
    Id,
    UserId,
    RewardId,
    IdemKey,
    Cost,
    Status,
    CreatedAt,
    FulfilledAt,
    CancelledAt,
    ClosedBy,
}

#[derive(DeriveIden)]
enum SortingAccounts {
    Table,
    Id,
    Code,
    HolderId,
    Kind,
    BuildingCode,
    UnitLabel,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SortingRecords {
    Table,
    Id,
    AccountId,
    IdemKey,
    Result,
    Points,
    Note,
    PosterKind,
    PosterId,
    ObservedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SortingPolicy {
    Table,
    Result,
    Points,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Balances are read before every spend and on every redemption screen: with the amount
        // in the index the SUM reads the index alone (scripts/bench/balance measures it).
        m.create_index(index(
            "ix_points_user_amount",
            PointsLedger::Table,
            [PointsLedger::UserId, PointsLedger::Amount],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table(Rewards::Table)
                .col(id(Rewards::Id))
                .col(string(Rewards::Code, 64).unique_key().take())
                .col(string(Rewards::Name, 100))
                .col(string(Rewards::Kind, 16))
                .col(ColumnDef::new(Rewards::Cost).integer().not_null())
                // NULL = unlimited (donations); otherwise never below zero.
                .col(int_null(Rewards::Stock))
                .col(
                    ColumnDef::new(Rewards::Active)
                        .boolean()
                        .not_null()
                        .default(true),
                )
                .col(ts(Rewards::CreatedAt))
                .col(ts(Rewards::UpdatedAt))
                .check(Expr::cust("stock IS NULL OR stock >= 0"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Redemptions::Table)
                .col(id(Redemptions::Id))
                .col(ColumnDef::new(Redemptions::UserId).uuid().not_null())
                .col(ColumnDef::new(Redemptions::RewardId).uuid().not_null())
                .col(string(Redemptions::IdemKey, 100))
                .col(ColumnDef::new(Redemptions::Cost).integer().not_null())
                .col(string(Redemptions::Status, 16))
                .col(ts(Redemptions::CreatedAt))
                .col(ts_null(Redemptions::FulfilledAt))
                .col(ts_null(Redemptions::CancelledAt))
                .col(ColumnDef::new(Redemptions::ClosedBy).uuid().null())
                .foreign_key(&mut cascade(
                    (Redemptions::Table, Redemptions::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(
                    &mut ForeignKey::create()
                        .from(Redemptions::Table, Redemptions::RewardId)
                        .to(Rewards::Table, Rewards::Id)
                        .on_delete(ForeignKeyAction::Restrict)
                        .take(),
                )
                .to_owned(),
        )
        .await?;
        // A retried redemption finds the first one instead of paying twice.
        m.create_index(
            index(
                "uq_redemptions_key",
                Redemptions::Table,
                [Redemptions::UserId, Redemptions::IdemKey],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "ix_redemptions_status",
            Redemptions::Table,
            [Redemptions::Status, Redemptions::Id],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(SortingAccounts::Table)
                .col(id(SortingAccounts::Id))
                .col(string(SortingAccounts::Code, 64).unique_key().take())
                .col(ColumnDef::new(SortingAccounts::HolderId).uuid().not_null())
                .col(string(SortingAccounts::Kind, 16))
                .col(string_null(SortingAccounts::BuildingCode, 64))
                .col(string_null(SortingAccounts::UnitLabel, 32))
                .col(ts(SortingAccounts::CreatedAt))
                .foreign_key(&mut cascade(
                    (SortingAccounts::Table, SortingAccounts::HolderId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_sorting_accounts_holder",
            SortingAccounts::Table,
            [SortingAccounts::HolderId],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(SortingRecords::Table)
                .col(id(SortingRecords::Id))
                .col(ColumnDef::new(SortingRecords::AccountId).uuid().not_null())
                .col(string(SortingRecords::IdemKey, 100))
                .col(string(SortingRecords::Result, 8))
                .col(ColumnDef::new(SortingRecords::Points).integer().not_null())
                .col(string_null(SortingRecords::Note, 200))
                .col(string(SortingRecords::PosterKind, 8))
                .col(ColumnDef::new(SortingRecords::PosterId).uuid().not_null())
                .col(ts(SortingRecords::ObservedAt))
                .col(ts(SortingRecords::CreatedAt))
                .foreign_key(&mut cascade(
                    (SortingRecords::Table, SortingRecords::AccountId),
                    (SortingAccounts::Table, SortingAccounts::Id),
                ))
                .to_owned(),
        )
        .await?;
        // One record per account and key: a station's retry never pays twice.
        m.create_index(
            index(
                "uq_sorting_records_key",
                SortingRecords::Table,
                [SortingRecords::AccountId, SortingRecords::IdemKey],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SortingPolicy::Table)
                .col(string(SortingPolicy::Result, 8).primary_key().take())
                .col(ColumnDef::new(SortingPolicy::Points).integer().not_null())
                .to_owned(),
        )
        .await?;
        // The defaults a street starts from; admins change them with PUT /sorting/policy/{code}.
        let mut seed = Query::insert()
            .into_table(SortingPolicy::Table)
            .columns([SortingPolicy::Result, SortingPolicy::Points])
            .take();
        for (result, points) in [("good", 5), ("fair", 2), ("poor", 0)] {
            seed.values([result.into(), points.into()])
                .map_err(|e| DbErr::Migration(e.to_string()))?;
        }
        m.exec_stmt(seed).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            SortingPolicy::Table.into_iden(),
            SortingRecords::Table.into_iden(),
            SortingAccounts::Table.into_iden(),
            Redemptions::Table.into_iden(),
            Rewards::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        m.drop_index(
            Index::drop()
                .name("ix_points_user_amount")
                .table(PointsLedger::Table)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
