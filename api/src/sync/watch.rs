//! The workers that keep the documents this instance holds in step with live rows
//! (`sync-refresh`), and drop idle ones (`sync-idle`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::sync::broadcast::error::RecvError;

use super::{Open, refresh};
use crate::state::AppState;
use crate::workers::{Stop, Supervisor};

/// Keeps documents in memory in step with live rows, and drops idle ones.
pub fn spawn(state: web::Data<AppState>, workers: &mut Supervisor) {
    let watcher = state.clone();
    workers.spawn("sync-refresh", move |stop| {
        Box::pin(follow(watcher.clone(), stop))
    });
    workers.spawn("sync-idle", move |mut stop| {
        let state = state.clone();
        Box::pin(async move {
            let every =
                (state.sync.idle_after / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.requested() => return,
                }
                state.sync.sweep();
            }
        })
    });
}

/// Refreshes every open document. After a (re)start rows may have passed unseen, so every
/// document may be behind.
async fn refresh_all(watcher: &AppState) {
    let all: Vec<Arc<Open>> = watcher
        .sync
        .open
        .lock()
        .map(|o| o.values().cloned().collect())
        .unwrap_or_default();
    for open in all {
        if let Err(e) = refresh(watcher.sync_engine(), &open).await {
            tracing::warn!(document = %open.id, error = %e, "sync: refresh failed");
        }
    }
}

/// Follows the live rows and refreshes the documents they concern, until the instance stops.
async fn follow(watcher: web::Data<AppState>, mut stop: Stop) {
    let mut rows = watcher.live.subscribe();
    refresh_all(&watcher).await;
    loop {
        let row = tokio::select! {
            row = rows.recv() => row,
            () = stop.requested() => return,
        };
        match row {
            Ok(row) => {
                let settled = watcher.sync.settled(row.id);
                for open in watcher.sync.of_event(row.event_id) {
                    if settled == Some(open.id) {
                        continue;
                    }
                    // One document's refresh, short-lived; not a worker of its own.
                    let state = watcher.clone();
                    tokio::spawn(async move {
                        if let Err(e) = refresh(state.sync_engine(), &open).await {
                            tracing::warn!(document = %open.id, error = %e, "sync: refresh failed");
                        }
                    });
                }
            }
            // Missed rows: every document may be behind.
            Err(RecvError::Lagged(_)) => refresh_all(&watcher).await,
            Err(RecvError::Closed) => return,
        }
    }
}
