//! The background workers of an instance, kept in one place and watched.
//!
//! Every loop that runs beside the HTTP server (the sweeper, the live bus and its Redis
//! subscriber, the sync refresher and idler, the mail sender, the area refresher) is started
//! through a [`Supervisor`] under a name. The supervisor keeps its handle, and when a worker
//! ends on its own (it panicked, or its loop returned) it says which one and why, marks it down
//! in [`Health`] (so `/readyz` answers 503 naming it) and starts it again after a backoff.
//!
//! **Restart, not exit.** A worker's state is the database's: each loop starts again from the
//! rows (the bus from the last position, the sweeper from the late tasks, the mailer from the
//! due mail), so a fresh start loses nothing. Bringing the process down instead would cut every
//! websocket, sync session and request in flight on the instance to recover a loop that can
//! recover alone. The backoff (doubling up to a minute) keeps a worker that fails at once from
//! spinning, and `/readyz` stays 503 while it is down, so a worker that keeps failing takes
//! the instance out of its load balancer.
//!
//! **Shutdown.** [`Supervisor::shutdown`] asks every worker to stop through the [`Stop`] each
//! one was given, waits for them up to a bound, then aborts whichever has not finished.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{self, JoinError, JoinHandle, JoinSet};

use crate::error::ApiError;

/// The first wait before a failed worker starts again.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a failed worker starts again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A worker that ran this long before failing starts again after [`FIRST_BACKOFF`].
const STABLE: Duration = Duration::from_secs(300);

/// A worker's body, started afresh on every (re)start.
pub type WorkerFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What a worker is given to learn that the instance is stopping.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once the instance stops (at once when it already has).
    pub async fn requested(&mut self) {
        // An error means the supervisor is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether the instance is stopping.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// Where a worker stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Running,
    /// Ended on its own; waiting to start again.
    Restarting {
        /// Why it ended (a panic's message, or that its loop returned). For the log and the
        /// operator, never for a client.
        reason: String,
        /// How many times it has been restarted so far.
        restarts: u32,
    },
    /// Stopped because the instance stops.
    Stopped,
}

impl WorkerState {
    /// The state's name, as `/readyz` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Restarting { .. } => "restarting",
            WorkerState::Stopped => "stopped",
        }
    }
}

/// The state of every worker, shared with `/readyz`.
#[derive(Clone, Default)]
pub struct Health(Arc<Mutex<BTreeMap<&'static str, WorkerState>>>);

impl Health {
    fn set(&self, name: &'static str, state: WorkerState) {
        // A poisoned lock only means a panic while holding it; the map itself is still whole.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(name, state);
    }

    /// Every worker and its state, by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, WorkerState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The workers that are down (waiting to restart), by name.
    pub fn down(&self) -> Vec<&'static str> {
        self.snapshot()
            .into_iter()
            .filter(|(_, s)| matches!(s, WorkerState::Restarting { .. }))
            .map(|(n, _)| n)
            .collect()
    }

    /// Ok while every worker runs; otherwise the 503 `/readyz` answers, naming the workers
    /// down (their reasons stay in the log).
    pub fn ready(&self) -> Result<(), ApiError> {
        let down = self.down();
        if down.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unavailable(format!(
                "background worker down, restarting: {}",
                down.join(", ")
            )))
        }
    }
}

/// Starts, watches, restarts and stops the workers of an instance.
pub struct Supervisor {
    stop: watch::Sender<bool>,
    health: Health,
    keepers: JoinSet<()>,
    /// The worker each keeper keeps.
    names: HashMap<task::Id, &'static str>,
    first_backoff: Duration,
}

impl Supervisor {
    /// A supervisor reporting into `health`.
    pub fn new(health: Health) -> Self {
        Self::with_backoff(health, FIRST_BACKOFF)
    }

    /// A supervisor whose first restart waits `first_backoff` (tests keep it short).
    pub fn with_backoff(health: Health, first_backoff: Duration) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            stop,
            health,
            keepers: JoinSet::new(),
            names: HashMap::new(),
            first_backoff,
        }
    }

    /// What the workers report into.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Starts the worker `name`; `start` builds its body, again on every restart. A body should
    /// return soon after its [`Stop`] is requested.
    pub fn spawn<F>(&mut self, name: &'static str, start: F)
    where
        F: Fn(Stop) -> WorkerFuture + Send + Sync + 'static,
    {
        let stop = Stop(self.stop.subscribe());
        let health = self.health.clone();
        let first_backoff = self.first_backoff;
        health.set(name, WorkerState::Running);
        let keeper = self
            .keepers
            .spawn(keep(name, start, stop, health, first_backoff));
        self.names.insert(keeper.id(), name);
    }

    /// Resolves when a worker's keeper ends before shutdown, with the worker's name and why.
    /// A worker that fails is restarted by its keeper, so this only happens when the keeping
    /// itself failed (its start panicked). Pending while every keeper runs.
    pub async fn lost(&mut self) -> (&'static str, String) {
        let ended = match self.keepers.join_next_with_id().await {
            Some(ended) => ended,
            None => std::future::pending().await,
        };
        let (id, why) = match ended {
            Ok((id, ())) => (id, "its keeper returned".to_owned()),
            Err(e) => (e.id(), reason(e)),
        };
        (self.names.get(&id).copied().unwrap_or("unknown"), why)
    }

    /// Asks every worker to stop and waits up to `within` for them; aborts the rest. Returns
    /// the names of the workers that had to be aborted.
    pub async fn shutdown(mut self, within: Duration) -> Vec<&'static str> {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + within;
        while !self.keepers.is_empty() {
            match tokio::time::timeout_at(deadline, self.keepers.join_next()).await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    let late: Vec<&'static str> = self
                        .health
                        .snapshot()
                        .into_iter()
                        .filter(|(_, s)| *s != WorkerState::Stopped)
                        .map(|(n, _)| n)
                        .collect();
                    tracing::error!(workers = ?late, "workers did not stop in time; aborting them");
                    self.keepers.shutdown().await;
                    return late;
                }
            }
        }
        Vec::new()
    }
}

/// Aborts the task it holds when dropped, so aborting a keeper aborts its worker too.
struct Owned(JoinHandle<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs one worker until the instance stops, restarting it whenever it ends on its own.
async fn keep<F>(
    name: &'static str,
    start: F,
    mut stop: Stop,
    health: Health,
    first_backoff: Duration,
) where
    F: Fn(Stop) -> WorkerFuture + Send + Sync + 'static,
{
    let mut backoff = first_backoff;
    let mut restarts = 0u32;
    loop {
        let began = Instant::now();
        let mut task = Owned(tokio::spawn(start(stop.clone())));
        health.set(name, WorkerState::Running);
        let ended = (&mut task.0).await;
        if stop.is_requested() {
            match ended {
                Ok(()) => tracing::info!(worker = name, "worker stopped"),
                Err(e) => {
                    tracing::warn!(worker = name, reason = %reason(e), "worker failed while stopping");
                }
            }
            health.set(name, WorkerState::Stopped);
            return;
        }
        let why = match ended {
            Ok(()) => "its loop returned".to_owned(),
            Err(e) => reason(e),
        };
        if began.elapsed() >= STABLE {
            backoff = first_backoff;
        }
        restarts = restarts.saturating_add(1);
        tracing::error!(
            worker = name,
            reason = %why,
            restart_in_ms = backoff.as_millis() as u64,
            restarts,
            "background worker ended; restarting it"
        );
        health.set(
            name,
            WorkerState::Restarting {
                reason: why,
                restarts,
            },
        );
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.requested() => {
                health.set(name, WorkerState::Stopped);
                return;
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Why a worker's task failed: its panic's message, or that it was cancelled.
fn reason(e: JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            format!("panicked: {message}")
        }
        Err(_) => "cancelled".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use actix_web::ResponseError;

    use super::*;

    /// Polls `ready` every few milliseconds, for at most five seconds.
    async fn until(what: &str, ready: impl Fn() -> bool) -> Result<(), String> {
        for _ in 0..1000 {
            if ready() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(format!("{what}: not within five seconds"))
    }

    /// A worker that panics on its first start and then runs until the instance stops,
    /// counting its starts.
    fn flaky(starts: Arc<AtomicU32>) -> impl Fn(Stop) -> WorkerFuture + Send + Sync + 'static {
        move |mut stop| {
            let starts = starts.clone();
            Box::pin(async move {
                if starts.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the flaky worker's first start fails");
                }
                stop.requested().await;
            })
        }
    }

    #[tokio::test]
    async fn a_panicking_worker_is_reported_by_name_and_readiness_names_it() -> Result<(), String> {
        let health = Health::default();
        // A backoff longer than the test: the worker stays down while it is looked at.
        let mut sup = Supervisor::with_backoff(health.clone(), Duration::from_secs(3600));
        sup.spawn("steady", |mut stop| {
            Box::pin(async move { stop.requested().await })
        });
        sup.spawn("flaky", flaky(Arc::new(AtomicU32::new(0))));
        until("the flaky worker is down", || health.down() == ["flaky"]).await?;
        assert_eq!(
            health.snapshot().get("flaky"),
            Some(&WorkerState::Restarting {
                reason: "panicked: the flaky worker's first start fails".to_owned(),
                restarts: 1,
            })
        );
        assert_eq!(health.snapshot().get("steady"), Some(&WorkerState::Running));
        let Err(unready) = health.ready() else {
            return Err("ready with a worker down".to_owned());
        };
        let problem = unready.problem();
        assert_eq!(unready.status_code().as_u16(), 503);
        assert_eq!(problem.kind, "/problems/service-unavailable");
        assert!(problem.detail.contains("flaky"), "{}", problem.detail);
        assert!(!problem.detail.contains("steady"), "{}", problem.detail);
        // Why it panicked is for the log, not for whoever asks.
        assert!(
            !problem.detail.contains("first start"),
            "{}",
            problem.detail
        );
        // Stopping during the backoff does not wait for it.
        let aborted =
            tokio::time::timeout(Duration::from_secs(5), sup.shutdown(Duration::from_secs(5)))
                .await
                .map_err(|_| "shutdown waited for the backoff".to_owned())?;
        assert!(aborted.is_empty(), "{aborted:?}");
        assert!(
            health
                .snapshot()
                .values()
                .all(|s| *s == WorkerState::Stopped)
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_panicked_worker_starts_again_and_readiness_recovers() -> Result<(), String> {
        let health = Health::default();
        let mut sup = Supervisor::with_backoff(health.clone(), Duration::from_millis(20));
        let starts = Arc::new(AtomicU32::new(0));
        sup.spawn("flaky", flaky(starts.clone()));
        until("the flaky worker runs again", || {
            starts.load(Ordering::SeqCst) == 2
                && health.snapshot().get("flaky") == Some(&WorkerState::Running)
        })
        .await?;
        assert!(health.ready().is_ok());
        assert!(sup.shutdown(Duration::from_secs(5)).await.is_empty());
        // It stopped when asked, and was not started a third time.
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        Ok(())
    }

    #[tokio::test]
    async fn shutdown_waits_for_draining_workers_and_aborts_one_that_ignores_it()
    -> Result<(), String> {
        let health = Health::default();
        let mut sup = Supervisor::new(health.clone());
        let drained = Arc::new(AtomicU32::new(0));
        let seen = drained.clone();
        sup.spawn("drains", move |mut stop| {
            let drained = seen.clone();
            Box::pin(async move {
                stop.requested().await;
                // Work that outlasts the request to stop still finishes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                drained.fetch_add(1, Ordering::SeqCst);
            })
        });
        sup.spawn("deaf", |_stop| Box::pin(std::future::pending()));
        let aborted = sup.shutdown(Duration::from_millis(500)).await;
        assert_eq!(aborted, ["deaf"]);
        assert_eq!(drained.load(Ordering::SeqCst), 1);
        assert_eq!(health.snapshot().get("drains"), Some(&WorkerState::Stopped));
        Ok(())
    }

    #[tokio::test]
    async fn a_keeper_that_cannot_start_its_worker_is_lost_by_name() -> Result<(), String> {
        let mut sup = Supervisor::new(Health::default());
        sup.spawn("steady", |mut stop| {
            Box::pin(async move { stop.requested().await })
        });
        sup.spawn("unstartable", |_stop| panic!("no body to run"));
        let (name, why) = tokio::time::timeout(Duration::from_secs(5), sup.lost())
            .await
            .map_err(|_| "nothing lost".to_owned())?;
        assert_eq!(
            (name, why.as_str()),
            ("unstartable", "panicked: no body to run")
        );
        Ok(())
    }
}
