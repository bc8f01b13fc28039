//! The `health` worker: keeps grids' health current.
//!
//! - **Incrementally, through the outbox.** Every event, move, light or escalation already
//!   writes a live row naming its grid in its own transaction; the worker follows the instance's
//!   stream of those rows and recomputes the grids they name once they have committed. The write
//!   that causes it pays nothing more, and a burst (a batch of sensor alarms in one grid) costs
//!   one recompute per grid, not one per row. A patrol check-in writes no live row, so its
//!   handler names its grid to the worker directly ([`HealthDesk::touch`]).
//! - **In full every night** at Asia/Shanghai midnight, so every grid gets its day's row and the
//!   window rolls on for grids nothing touched; at start when today's rows are missing; and on
//!   demand ([`HealthDesk::recompute`]: an admin's request or a change of rules).
//!
//! One worker per instance does all of it in turn, so a full pass and the touches that follow
//! it never overwrite newer figures with older ones on that instance. Several instances each
//! follow every row and recompute the same figures; the colour is changed by compare-and-set,
//! so a change is announced once.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::web;
use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::store::{self, Recomputed};
use crate::entities::{area_health, areas, patrol_routes};
use crate::error::{ApiError, ApiResult};
use crate::live::Delivery;
use crate::points::{day_start, local_day};
use crate::state::AppState;
use crate::workers::{Stop, Supervisor};

/// What the worker is asked to do besides following live rows.
enum Command {
    /// Recompute this grid.
    Touch(String),
    /// Recompute every grid (of a street), and say when done.
    Recompute {
        street: Option<String>,
        reply: oneshot::Sender<ApiResult<Recomputed>>,
    },
}

/// The way to the instance's health worker. The receiving end stays here, so a worker that
/// restarts picks up what was asked meanwhile.
pub struct HealthDesk {
    tx: mpsc::UnboundedSender<Command>,
    rx: Mutex<mpsc::UnboundedReceiver<Command>>,
}

impl Default for HealthDesk {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(rx),
        }
    }
}

impl HealthDesk {
    /// Asks for `grid` to be recomputed soon (after a check-in on its routes).
    pub fn touch(&self, grid: String) {
        // The receiver lives as long as the desk: sending fails only while the instance ends.
        let _ = self.tx.send(Command::Touch(grid));
    }

    /// Recomputes every grid (of `street`) in turn with what the worker is doing, and answers
    /// when done.
    pub async fn recompute(&self, street: Option<String>) -> ApiResult<Recomputed> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Command::Recompute { street, reply })
            .map_err(|_| ApiError::Unavailable("health worker".into()))?;
        done.await
            .map_err(|_| ApiError::Unavailable("health worker".into()))?
    }
}

/// The grid a patrol route counts for: its area when that is a grid, the grid above when it is
/// a micro-grid; None for routes of a wider area or none.
pub async fn grid_of_route(db: &DatabaseConnection, route: &str) -> ApiResult<Option<String>> {
    let Some(area) = patrol_routes::Entity::find()
        .filter(patrol_routes::Column::Code.eq(route))
        .one(db)
        .await?
        .and_then(|r| r.area_code)
    else {
        return Ok(None);
    };
    let Some(a) = areas::Entity::find()
        .filter(areas::Column::Code.eq(area))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(match a.level.as_str() {
        "grid" => Some(a.code),
        "micro_grid" => a.parent_code,
        _ => None,
    })
}

/// Starts the health worker of this instance.
pub fn spawn(state: web::Data<AppState>, workers: &mut Supervisor) {
    workers.spawn("health", move |stop| Box::pin(run(state.clone(), stop)));
}

/// The grids a live row names; none for the worker's own rows.
fn grids_of(row: &Delivery, into: &mut BTreeSet<String>) {
    let item: serde_json::Value = serde_json::from_str(&row.text).unwrap_or_default();
    if item["kind"] == store::KIND {
        return;
    }
    if let Some(g) = &row.grid_code {
        into.insert(g.clone());
    }
    // A row goes to the grid holding the task; the event's own grid is in its view.
    if let Some(g) = item["payload"]["grid_code"].as_str() {
        into.insert(g.to_owned());
    }
}

/// How long from `now` until just after the next Asia/Shanghai midnight: the nightly pass then
/// finds the new day already begun, whatever the server's own time zone.
fn until_midnight(now: chrono::DateTime<Utc>) -> Duration {
    let next = day_start(local_day(now) + chrono::Duration::days(1));
    (next - now).to_std().unwrap_or(Duration::ZERO) + Duration::from_secs(1)
}

/// Whether some grid lacks today's row.
async fn behind(db: &DatabaseConnection) -> ApiResult<bool> {
    let grids = areas::Entity::find()
        .filter(areas::Column::Level.eq("grid"))
        .count(db)
        .await?;
    let today = local_day(Utc::now()).format("%Y-%m-%d").to_string();
    let rows = area_health::Entity::find()
        .filter(area_health::Column::Day.eq(today))
        .count(db)
        .await?;
    Ok(rows < grids)
}

async fn full(state: &AppState, street: Option<&str>, why: &str) -> ApiResult<Recomputed> {
    let done = store::refresh_all(&state.db, street, Utc::now()).await?;
    if done.changed > 0 {
        state.live.poke();
    }
    tracing::info!(
        grids = done.grids,
        changed = done.changed,
        why,
        "grid health recomputed"
    );
    Ok(done)
}

async fn run(state: web::Data<AppState>, mut stop: Stop) {
    let mut rows = state.live.subscribe();
    let mut asked = state.health.rx.lock().await;
    match behind(&state.db).await {
        Ok(true) => {
            // A stop during the pass drops it: a batch not yet committed is rolled back, and the
            // next start (or night) computes it again.
            tokio::select! {
                done = full(&state, None, "start") => {
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "grid health: the catch-up pass failed");
                    }
                }
                () = stop.requested() => return,
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "grid health: cannot tell whether today is done"),
    }
    loop {
        let mut touched = BTreeSet::new();
        tokio::select! {
            () = stop.requested() => return,
            () = tokio::time::sleep(until_midnight(Utc::now())) => {
                if let Err(e) = full(&state, None, "nightly").await {
                    tracing::warn!(error = %e, "grid health: the nightly pass failed");
                }
                continue;
            }
            row = rows.recv() => match row {
                Ok(row) => grids_of(&row, &mut touched),
                Err(RecvError::Lagged(_)) => {
                    if let Err(e) = full(&state, None, "rows missed").await {
                        tracing::warn!(error = %e, "grid health: the pass after missed rows failed");
                    }
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
            cmd = asked.recv() => match cmd {
                Some(Command::Touch(g)) => { touched.insert(g); }
                Some(Command::Recompute { street, reply }) => {
                    let _ = reply.send(full(&state, street.as_deref(), "asked").await);
                    continue;
                }
                None => return,
            },
        }
        // Whatever else is already waiting joins this round, so a burst costs one recompute a
        // grid.
        let mut missed = false;
        loop {
            match rows.try_recv() {
                Ok(row) => grids_of(&row, &mut touched),
                Err(TryRecvError::Lagged(_)) => missed = true,
                Err(_) => break,
            }
        }
        if missed {
            if let Err(e) = full(&state, None, "rows missed").await {
                tracing::warn!(error = %e, "grid health: the pass after missed rows failed");
            }
            continue;
        }
        let now = Utc::now();
        let mut announced = false;
        for grid in touched {
            match store::refresh_code(&state.db, &grid, now).await {
                Ok(Some(r)) => announced |= r.announced,
                Ok(None) => {}
                Err(e) => tracing::warn!(grid, error = %e, "grid health: refresh failed"),
            }
        }
        if announced {
            state.live.poke();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> chrono::DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_nightly_pass_waits_for_shanghai_midnight_not_utcs() {
        // 23:59:30 in Shanghai is 15:59:30 UTC: the pass is due in 30 s (and one to spare).
        let late = at("2026-11-30T15:59:30Z");
        assert_eq!(until_midnight(late), Duration::from_secs(31));
        // Just after Shanghai's midnight (16:00:00 UTC) the next pass is a whole day away.
        let early = at("2026-11-30T16:00:00Z");
        assert_eq!(until_midnight(early), Duration::from_secs(24 * 3600 + 1));
        // UTC's midnight is 08:00 in Shanghai: sixteen hours to go.
        let utc_midnight = at("2026-12-01T00:00:00Z");
        assert_eq!(
            until_midnight(utc_midnight),
            Duration::from_secs(16 * 3600 + 1)
        );
    }
}
