//! Grid health (五色网格):
//! - `health_rules`: a street's rules for scoring its grids, one JSON document per street, with
//!   the defaults under `*` (seeded here): event weights by category and source, colour
//!   multipliers, penalties, repeats, patrol coverage, building freshness, the rolling window,
//!   the five colours' thresholds and each colour's response level.
//! - `area_health`: one row per grid per Asia/Shanghai day, the last figures of that day; the
//!   newest is the grid's health now, and `areas.health_colour` follows it.
//! - `idx_events_grid_time`: scoring counts a grid's events over the window.

use sea_orm_migration::prelude::*;

use crate::columns::{id, index, string, ts};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000013_grid_health"
    }
}

/// The default rules as seeded. The server's `health::rules::HealthRules::defaults()` is the same
/// document (a unit test there holds them equal).
pub const DEFAULT_HEALTH_RULES: &str = r#"{
  "window_days": 30,
  "category_weights": {"*": 5.0},
  "source_weights": {"citizen": 1.0, "patrol": 1.0, "hotline": 1.0, "machine": 1.0},
  "colour_multipliers": {"blue": 1.0, "yellow": 1.5, "orange": 2.0, "red": 3.0},
  "penalties": {"overdue_task": 10, "yellow_light": 5, "red_light": 10, "escalation": 5},
  "repeats": {"building_min": 3, "micro_grid_min": 5, "penalty": 10},
  "patrol": {"max_penalty": 20},
  "freshness": {"red_max": 20, "yellow_max": 10},
  "thresholds": {"blue": 30, "yellow": 60, "orange": 100, "red": 150},
  "responses": {
    "green": {"patrol_multiplier": 1.0, "staffing": 1, "advice": "常态巡查"},
    "blue": {"patrol_multiplier": 1.0, "staffing": 1, "advice": "常态巡查，关注新增事件"},
    "yellow": {"patrol_multiplier": 1.5, "staffing": 2, "advice": "加密巡查，每日研判"},
    "orange": {"patrol_multiplier": 2.0, "staffing": 3, "advice": "加派力量，街道跟踪督办"},
    "red": {"patrol_multiplier": 3.0, "staffing": 4, "advice": "重点管控，街道领导包干"}
  }
}"#;

#[derive(DeriveIden)]
enum HealthRules {
    Table,
    StreetCode,
    Rules,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AreaHealth {
    Table,
    Id,
    AreaCode,
    Day,
    Score,
    Colour,
    Contributions,
    RulesFrom,
    ComputedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    GridCode,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(HealthRules::Table)
                .col(string(HealthRules::StreetCode, 64).primary_key().take())
                .col(ColumnDef::new(HealthRules::Rules).text().not_null())
                .col(ts(HealthRules::UpdatedAt))
                .to_owned(),
        )
        .await?;
        let mut seed = Query::insert()
            .into_table(HealthRules::Table)
            .columns([
                HealthRules::StreetCode,
                HealthRules::Rules,
                HealthRules::UpdatedAt,
            ])
            .take();
        seed.values([
            "*".into(),
            DEFAULT_HEALTH_RULES.into(),
            Expr::current_timestamp(),
        ])
        .map_err(|e| DbErr::Migration(e.to_string()))?;
        m.exec_stmt(seed).await?;

        m.create_table(
            Table::create()
                .table(AreaHealth::Table)
                .col(id(AreaHealth::Id))
                .col(string(AreaHealth::AreaCode, 64))
                .col(string(AreaHealth::Day, 10))
                .col(ColumnDef::new(AreaHealth::Score).big_integer().not_null())
                .col(string(AreaHealth::Colour, 16))
                .col(ColumnDef::new(AreaHealth::Contributions).text().not_null())
                .col(string(AreaHealth::RulesFrom, 64))
                .col(ts(AreaHealth::ComputedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "uq_area_health_day",
                AreaHealth::Table,
                [AreaHealth::AreaCode, AreaHealth::Day],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "idx_events_grid_time",
            Events::Table,
            [Events::GridCode, Events::CreatedAt],
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_events_grid_time")
                .table(Events::Table)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(AreaHealth::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(HealthRules::Table).to_owned())
            .await
    }
}
