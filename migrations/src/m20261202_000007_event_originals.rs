//! Duplicate detection reads only original events: a partial index of the events that are not
//! duplicates, by category and time. With the index on all events, a burst of alarms at one spot
//! made every new report walk every report of the burst; now it walks the originals only.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000007_event_originals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Partial indexes are written the same way in SQLite and PostgreSQL.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_events_originals ON events (category, created_at) \
                 WHERE duplicate_of IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX idx_events_originals")
            .await?;
        Ok(())
    }
}
