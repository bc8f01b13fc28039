//! Writing to the outbox: one row per thing a client should hear of, in the same transaction as
//! the change itself, so nothing is announced that did not happen and nothing that happened goes
//! unannounced.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use crate::db::by_size;
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

/// Writes many entries inside the caller's transaction (a call-out to a team of thousands), in
/// statements that each stay within [`crate::db::STATEMENT_BUDGET`].
pub async fn record_many(db: &impl ConnectionTrait, entries: Vec<Entry>) -> ApiResult<()> {
    for run in runs(entries) {
        outbox::Entity::insert_many(run).exec(db).await?;
    }
    Ok(())
}

/// The rows of `entries`, a statement's worth to a run.
fn runs(entries: Vec<Entry>) -> Vec<Vec<outbox::ActiveModel>> {
    let rows = entries.into_iter().map(row).collect();
    // The payload and a row's worth of ids, codes, kind and time.
    by_size(rows, |r| 240 + r.payload.as_ref().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::QueryTrait;
    use sea_orm::sea_query::PostgresQueryBuilder;

    #[test]
    fn a_call_out_to_thousands_is_written_in_statements_under_the_budget() {
        let callout = Uuid::now_v7();
        let payload = serde_json::json!({
            "callout_id": callout,
            "title": "防汛紧急集结",
            "message": "今晚八点前到东门集合，带好雨具和手电。".repeat(4),
            "area": "QSH-C01",
            "team": "FLOOD",
            "answer_with": format!("POST /api/v1/callouts/{callout}/answer"),
        });
        let entries: Vec<Entry> = (0..3000)
            .map(|_| Entry {
                event_id: callout,
                kind: "callout.created",
                grid_code: None,
                micro_grid_code: None,
                team_code: None,
                user_id: Some(Uuid::now_v7()),
                street_code: None,
                payload: payload.clone(),
            })
            .collect();
        let runs = runs(entries);
        assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), 3000);
        for run in runs {
            // Values written out in the text: at least what the bound parameters take.
            let sql = outbox::Entity::insert_many(run)
                .into_query()
                .to_string(PostgresQueryBuilder);
            assert!(sql.len() <= 16 * 1024, "a statement of {} bytes", sql.len());
        }
    }
}
