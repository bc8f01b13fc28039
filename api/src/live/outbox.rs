//! Writing to the outbox: one row per thing a client should hear of, in the same transaction as
//! the change itself, so nothing is announced that did not happen and nothing that happened goes
//! unannounced.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use crate::entities::outbox;
use crate::error::ApiResult;

/// What happened, and to whom it matters.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The event concerned; for community rows the signup or call-out.
    pub event_id: Uuid,
    /// `event.created`, `event.moved`, `task.lit`, `event.changed` …
    pub kind: &'static str,
    /// Workers of this grid hear of it.
    pub grid_code: Option<String>,
    /// Workers of this micro-grid hear of it too.
    pub micro_grid_code: Option<String>,
    /// Members of this team hear of it.
    pub team_code: Option<String>,
    /// This user (the reporter) hears of it.
    pub user_id: Option<Uuid>,
    /// The street, for the command centre.
    pub street_code: Option<String>,
    /// The message body clients receive.
    pub payload: serde_json::Value,
}

/// The row of an entry, not yet written.
pub fn row(e: Entry) -> outbox::ActiveModel {
    outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        pos: Set(None),
        event_id: Set(e.event_id),
        kind: Set(e.kind.to_owned()),
        grid_code: Set(e.grid_code),
        micro_grid_code: Set(e.micro_grid_code),
        team_code: Set(e.team_code),
        user_id: Set(e.user_id),
        street_code: Set(e.street_code),
        payload: Set(e.payload.to_string()),
        created_at: Set(Utc::now()),
    }
}

/// Writes the entry inside the caller's transaction; the row's id.
pub async fn record(db: &impl ConnectionTrait, e: Entry) -> ApiResult<Uuid> {
    Ok(row(e).insert(db).await?.id)
}

/// Writes many entries inside the caller's transaction, a few hundred rows per statement (a
/// call-out to a team of thousands).
pub async fn record_many(db: &impl ConnectionTrait, entries: Vec<Entry>) -> ApiResult<()> {
    let mut rows = entries.into_iter().map(row).peekable();
    while rows.peek().is_some() {
        let chunk: Vec<outbox::ActiveModel> = rows.by_ref().take(500).collect();
        outbox::Entity::insert_many(chunk).exec(db).await?;
    }
    Ok(())
}
