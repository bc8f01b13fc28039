//! The `reviews` worker: the monthly scheduler. At start and at every Asia/Shanghai month's turn
//! (and hourly between, so an instance that was down at the turn catches up), it generates each
//! street's reviews of the month that has just ended, unless they have been generated.
//!
//! **Once, whatever the number of instances.** A street's month is claimed in the same write
//! transaction that inserts its reviews ([`super::store::claim_month`]): the claim is a
//! compare-and-set on the month's row, so of two instances the second waits for the first's
//! transaction and then finds the month taken; and should the first roll back, nothing of it
//! remains and the second (or the next pass) generates the month whole. Reviews made on demand
//! before the scheduler's turn are kept; the scheduler adds the others.

use std::time::Duration;

use actix_web::web;
use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::watch;

use super::figures::StreetTree;
use super::month::Month;
use super::store::{claim_month, generate_month, scheduled};
use crate::entities::areas;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::workers::{Stop, Supervisor};

/// The longest wait between passes: an instance started before a turn and not woken at it still
/// catches up within the hour.
const RECHECK: Duration = Duration::from_secs(3600);

/// How many passes this instance's scheduler has finished, to wait on (tests, operators).
pub struct SchedulerPasses(watch::Sender<u64>);

impl Default for SchedulerPasses {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl SchedulerPasses {
    /// A receiver of the count of finished passes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    fn finished(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// Starts the scheduler, unless `--review-scheduler false`.
pub fn spawn(state: web::Data<AppState>, workers: &mut Supervisor) {
    if !state.settings.review_scheduler {
        tracing::info!("--review-scheduler false: this instance generates no monthly reviews");
        return;
    }
    workers.spawn("reviews", move |stop| Box::pin(run(state.clone(), stop)));
}

/// How long until the next Asia/Shanghai month begins, at most [`RECHECK`].
fn until_next_pass() -> Duration {
    let now = Utc::now();
    let turn = Month::of(now).end();
    let wait = (turn - now).to_std().unwrap_or(Duration::ZERO) + Duration::from_secs(1);
    wait.min(RECHECK)
}

async fn run(state: web::Data<AppState>, mut stop: Stop) {
    loop {
        // A stop mid-pass drops it: the street's transaction rolls back, claim and all.
        tokio::select! {
            done = pass(&state.db) => {
                match done {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reviews = n, "monthly reviews generated"),
                    Err(e) => tracing::warn!(error = %e, "monthly reviews: the pass failed; retrying at the next"),
                }
                state.reviews.finished();
            }
            () = stop.requested() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(until_next_pass()) => {}
            () = stop.requested() => return,
        }
    }
}

/// Generates every street's reviews of the month just ended that nobody has generated; returns
/// how many reviews this instance made.
pub async fn pass(db: &DatabaseConnection) -> ApiResult<usize> {
    let now = Utc::now();
    let month = Month::of(now).previous();
    let streets: Vec<String> = areas::Entity::find()
        .select_only()
        .column(areas::Column::Code)
        .filter(areas::Column::Level.eq("street"))
        .into_tuple()
        .all(db)
        .await?;
    let mut made = 0;
    for street in streets {
        if scheduled(db, &street, month).await? {
            continue;
        }
        let Some(tree) = StreetTree::load(db, &street).await? else {
            continue;
        };
        let tx = crate::db::begin_write(db).await?;
        if !claim_month(&tx, &street, month, now).await? {
            // Another instance has it (or had it, and committed meanwhile).
            continue;
        }
        let n = generate_month(&tx, &tree, month, now).await?;
        tx.commit().await?;
        tracing::info!(street, month = %month, reviews = n, "a street's monthly reviews generated");
        made += n;
    }
    Ok(made)
}
