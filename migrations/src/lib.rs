//! The gridwing schema: one ordered list of migrations that runs unchanged on SQLite and
//! PostgreSQL. Each migration is a file named after the day it was written; never edit one that
//! has landed, add a new one.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261125_000001_accounts;
mod m20261125_000002_places;
mod m20261125_000003_events;
mod m20261201_000004_community;
mod m20261201_000005_patrols;
mod m20261201_000006_rewards;
mod m20261202_000007_event_originals;
mod m20261202_000008_sync_documents;
mod m20261205_000009_points_guards;
mod m20261205_000010_photo_owners;
mod m20261205_000012_outbox_micro_grid;
mod m20261206_000013_grid_health;
mod m20261206_000014_reviews;
mod m20261206_000015_read_indexes;

pub use m20261206_000013_grid_health::DEFAULT_HEALTH_RULES;

/// Every migration, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_accounts::Migration),
            Box::new(m20261125_000002_places::Migration),
            Box::new(m20261125_000003_events::Migration),
            Box::new(m20261201_000004_community::Migration),
            Box::new(m20261201_000005_patrols::Migration),
            Box::new(m20261201_000006_rewards::Migration),
            Box::new(m20261202_000007_event_originals::Migration),
            Box::new(m20261202_000008_sync_documents::Migration),
            Box::new(m20261205_000009_points_guards::Migration),
            Box::new(m20261205_000010_photo_owners::Migration),
            Box::new(m20261205_000012_outbox_micro_grid::Migration),
            Box::new(m20261206_000013_grid_health::Migration),
            Box::new(m20261206_000014_reviews::Migration),
            Box::new(m20261206_000015_read_indexes::Migration),
        ]
    }
}
