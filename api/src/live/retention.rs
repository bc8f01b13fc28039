//! Keeping the outbox to the feed's window (`--feed-window-hours`): a client catches up from its
//! cursor within that window; rows older than it have been delivered, replayed or given up on,
//! so they go, oldest first, a run of positions per transaction. At a city's scale the outbox
//! would otherwise grow by gigabytes a day.
//!
//! Only a prefix of positions ever goes (up to the first row still inside the window), so the
//! rows kept are always every row after some position, and a cursor before it is recognisably
//! too old: the feed and the websocket answer it with 410 `cursor-expired` instead of silently
//! skipping what went. The newest positioned row always stays: the next position is counted
//! from it. Rows not yet positioned are never touched.

use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::sequencer::max_pos;
use crate::entities::outbox;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workers::{Stop, Supervisor};

/// Positions deleted per transaction: a short hold of the write lock each.
pub const BATCH: i64 = 5_000;

/// The oldest position kept; None before the first row is positioned.
pub async fn oldest_pos(db: &impl ConnectionTrait) -> ApiResult<Option<i64>> {
    let min: Option<Option<i64>> = outbox::Entity::find()
        .select_only()
        .expr_as(Expr::col(outbox::Column::Pos).min(), "min_pos")
        .into_tuple()
        .one(db)
        .await?;
    Ok(min.flatten())
}

/// Deletes the positioned rows written before `before`, as a prefix of positions, `batch` per
/// transaction; returns how many went.
pub async fn prune(db: &DatabaseConnection, before: DateTime<Utc>, batch: i64) -> ApiResult<u64> {
    let newest = max_pos(db).await?;
    // The first row still inside the window: it and everything after it stay. Read along the
    // positions' index from the oldest, so the cost is the rows that go.
    let keep_from: Option<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Pos)
        .filter(outbox::Column::Pos.is_not_null())
        .filter(outbox::Column::CreatedAt.gte(before))
        .order_by_asc(outbox::Column::Pos)
        .limit(1)
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let end = keep_from.map_or(newest, |k| std::cmp::min(k, newest));
    let mut gone = 0;
    while let Some(first) = oldest_pos(db).await?
        && first < end
    {
        let upto = std::cmp::min(end, first.saturating_add(std::cmp::max(batch, 1)));
        let tx = crate::db::begin_write(db).await?;
        let done = outbox::Entity::delete_many()
            .filter(outbox::Column::Pos.gte(first))
            .filter(outbox::Column::Pos.lt(upto))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        gone += done.rows_affected;
    }
    Ok(gone)
}

/// Refuses a cursor older than what is kept: rows after it have gone, and a client reading on
/// from it would skip them unknowingly. `0` (from the beginning) reads what is kept.
pub async fn check_cursor(
    db: &impl ConnectionTrait,
    field: &'static str,
    after: i64,
) -> ApiResult<()> {
    if after == 0 {
        return Ok(());
    }
    match oldest_pos(db).await? {
        Some(oldest) if after < oldest - 1 => Err(ApiError::CursorExpired {
            field,
            oldest: oldest - 1,
        }),
        _ => Ok(()),
    }
}

/// Starts this instance's pruning worker (every instance may run one: each pass deletes only
/// what is past the window, so two at once only share the work).
pub fn spawn(state: web::Data<AppState>, workers: &mut Supervisor) {
    workers.spawn("outbox-retention", move |stop| {
        Box::pin(run(state.clone(), stop))
    });
}

async fn run(state: web::Data<AppState>, mut stop: Stop) {
    let every = Duration::from_secs(std::cmp::max(state.settings.outbox_prune_secs, 1));
    // At most ten years (the flag's range): far inside chrono's range.
    let window =
        chrono::Duration::hours(i64::try_from(state.settings.feed_window_hours).unwrap_or(87_600));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.requested() => return,
        }
        match prune(&state.db, Utc::now() - window, BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "outbox rows past the feed's window pruned"),
            Err(e) => tracing::warn!(error = %e, "outbox pruning failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, Set};
    use uuid::Uuid;

    use super::*;
    use crate::testing::{TestResult, database};

    /// A positioned row written `hours` ago.
    async fn row(db: &impl ConnectionTrait, pos: Option<i64>, hours: i64) -> TestResult {
        outbox::ActiveModel {
            id: Set(Uuid::now_v7()),
            pos: Set(pos),
            event_id: Set(Uuid::now_v7()),
            kind: Set("event.created".into()),
            grid_code: Set(Some("S-G1".into())),
            micro_grid_code: Set(None),
            team_code: Set(None),
            user_id: Set(None),
            street_code: Set(Some("S".into())),
            payload: Set("{}".into()),
            created_at: Set(Utc::now() - chrono::Duration::hours(hours)),
        }
        .insert(db)
        .await?;
        Ok(())
    }

    async fn positions(db: &impl ConnectionTrait) -> ApiResult<Vec<Option<i64>>> {
        Ok(outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Pos)
            .order_by_asc(outbox::Column::Pos)
            .into_tuple()
            .all(db)
            .await?)
    }

    #[tokio::test]
    async fn a_prefix_past_the_window_goes_and_old_cursors_are_refused() -> TestResult {
        let db = database().await?;
        // 1–5 old, 6 recent, 7 old again (written before 6 but committed after), then one not
        // yet positioned.
        for pos in 1..=5 {
            row(&db, Some(pos), 48).await?;
        }
        row(&db, Some(6), 1).await?;
        row(&db, Some(7), 48).await?;
        row(&db, None, 48).await?;
        assert_eq!(check_cursor(&db, "after", 2).await.ok(), Some(()));

        let gone = prune(&db, Utc::now() - chrono::Duration::hours(24), 2).await?;
        assert_eq!(gone, 5);
        assert_eq!(positions(&db).await?, [None, Some(6), Some(7)]);
        // Every row after 5 is kept: 5 reads on; 4 would skip row 5, and is refused.
        assert!(check_cursor(&db, "after", 5).await.is_ok());
        assert!(check_cursor(&db, "after", 0).await.is_ok());
        match check_cursor(&db, "after", 4).await {
            Err(ApiError::CursorExpired { field, oldest }) => {
                assert_eq!((field, oldest), ("after", 5))
            }
            other => panic!("{other:?}"),
        }

        // All old: everything but the newest positioned row goes.
        let gone = prune(&db, Utc::now(), 1000).await?;
        assert_eq!(gone, 1);
        assert_eq!(positions(&db).await?, [None, Some(7)]);
        assert_eq!(prune(&db, Utc::now(), 1000).await?, 0);
        Ok(())
    }
}
