//! The bus: how positioned rows reach every instance's websocket hub.
//!
//! One task per instance runs the sequencer (woken by [`super::Live::poke`] and by a tick) and
//! feeds the instance's in-process stream. The rows it positions go to that stream at once and,
//! when Redis is configured, to the channel `{prefix}:live`, from which every other instance's
//! subscriber hands them to its own task. Whatever the source, the task lets a row through only
//! when it is the next position: a row arriving ahead of a gap has the missing positions read
//! from the database first (they are committed: the sequencer that gave the later position ran
//! after the one that gave the earlier), and a row already passed is dropped. Every second the
//! task also looks at the table for positions it has not seen, so rows sequenced by an instance
//! whose publication was lost (Redis down, or not configured) still go out within a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::sequencer::{self, BATCH};
use super::{Delivery, WireRow};
use crate::state::AppState;
use crate::workers::{Stop, Supervisor};

/// How often the sequencer runs when nobody pokes it.
pub const TICK: Duration = Duration::from_millis(200);
/// After a poke, how long the sequencer waits for more commits to number in the same
/// transaction: under load one sequencer transaction then serves many reports instead of one.
pub const GATHER: Duration = Duration::from_millis(10);
/// How often the task looks at the table for positions it missed.
pub const TAIL_EVERY: Duration = Duration::from_secs(1);
/// Rows per Redis message, to keep messages small.
const PUBLISH_CHUNK: usize = 100;
/// How long a Redis publication may take before it is given up (the tail covers it).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscriber checks its Redis connection is alive.
const REDIS_PING: Duration = Duration::from_secs(15);
/// The longest wait between attempts to reconnect to Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The Redis channel of a deployment.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}:live")
}

/// Starts the sequencer worker (`live-bus`), and the Redis subscriber (`live-redis`) when Redis
/// is configured.
///
/// The stream's starting position is read here, before the server answers anyone: a client
/// that connects without a cursor is promised every row positioned after its 101, and a stream
/// that started later (say, waiting for a pooled connection while the workers all start) would
/// begin after rows another instance had positioned in between and never send them.
pub async fn spawn(
    state: web::Data<AppState>,
    workers: &mut Supervisor,
) -> Result<(), sea_orm::DbErr> {
    // Shared by every run of the worker, so a restarted stream goes on from the last row it
    // sent instead of from whatever the table holds by then.
    let delivered = Arc::new(AtomicI64::new(sequencer::max_pos(&state.db).await?));
    let (inbox_tx, inbox) = mpsc::channel::<Vec<WireRow>>(256);
    // Shared, so a restarted stream takes up the same inbox the subscriber feeds.
    let inbox = Arc::new(tokio::sync::Mutex::new(inbox));
    if state.redis.is_some()
        && let Some(url) = state.settings.redis_url.clone()
    {
        let ch = channel(&state.settings.redis_prefix);
        workers.spawn("live-redis", move |stop| {
            Box::pin(subscribe(url.clone(), ch.clone(), inbox_tx.clone(), stop))
        });
    }
    workers.spawn("live-bus", move |stop| {
        let state = state.clone();
        let inbox = inbox.clone();
        let delivered = delivered.clone();
        Box::pin(async move {
            let mut inbox = inbox.lock().await;
            run(state, delivered, &mut inbox, stop).await;
        })
    });
    Ok(())
}

/// The position the stream has reached, and how to move it on.
struct Stream {
    state: web::Data<AppState>,
    delivered: i64,
    /// Where `delivered` is kept for the next run of the worker.
    kept: Arc<AtomicI64>,
    /// Whether the database is failing, so an outage is logged once, not on every tick.
    failing: bool,
}

impl Stream {
    fn database_failed(&mut self, what: &str, e: &sea_orm::DbErr) {
        if !self.failing {
            tracing::warn!(error = %e, "live: {what} failed; retrying every tick");
        }
        self.failing = true;
    }

    fn database_answered(&mut self) {
        if self.failing {
            tracing::info!("live: the database answers again");
        }
        self.failing = false;
    }

    fn emit(&mut self, row: WireRow) {
        self.delivered = row.pos;
        self.kept.store(row.pos, Ordering::Relaxed);
        // No receiver is not an error: nobody is connected to this instance.
        let _ = self.state.live.bus.send(Arc::new(Delivery::of(row)));
    }

    /// Passes on the rows that come next, filling any gap before them from the database.
    async fn accept(&mut self, mut rows: Vec<WireRow>) {
        rows.sort_by_key(|r| r.pos);
        for row in rows {
            if row.pos <= self.delivered {
                continue;
            }
            if row.pos > self.delivered + 1 && !self.fill(Some(row.pos)).await {
                // The tail retries from the same place, so nothing is lost or reordered.
                return;
            }
            self.emit(row);
        }
    }

    /// Passes on every positioned row after the current position (below `below`, if given).
    /// False when the database could not be read.
    async fn fill(&mut self, below: Option<i64>) -> bool {
        loop {
            match sequencer::after(&self.state.db, self.delivered, below, BATCH as u64).await {
                Ok(rows) => {
                    self.database_answered();
                    let full = rows.len() == BATCH;
                    for row in rows.into_iter().filter_map(WireRow::of) {
                        self.emit(row);
                    }
                    if !full {
                        return true;
                    }
                }
                Err(e) => {
                    self.database_failed("reading the outbox", &e);
                    return false;
                }
            }
        }
    }
}

/// The sequencer and the stream of one instance.
async fn run(
    state: web::Data<AppState>,
    kept: Arc<AtomicI64>,
    inbox: &mut mpsc::Receiver<Vec<WireRow>>,
    mut stop: Stop,
) {
    let mut stream = Stream {
        state: state.clone(),
        delivered: kept.load(Ordering::Relaxed),
        kept,
        failing: false,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_tail = Instant::now();
    loop {
        tokio::select! {
            () = state.live.poke.notified() => tokio::time::sleep(GATHER).await,
            _ = tick.tick() => {}
            Some(rows) = inbox.recv() => {
                stream.accept(rows).await;
                continue;
            }
            () = stop.requested() => {
                // HTTP has stopped: number what its last requests committed, so the rows go
                // out (to Redis, and to any client's catch-up) without waiting for a restart.
                sequence_all(&state, &mut stream).await;
                return;
            }
        }
        sequence_all(&state, &mut stream).await;
        if last_tail.elapsed() >= TAIL_EVERY {
            last_tail = Instant::now();
            stream.fill(None).await;
        }
    }
}

/// Positions every waiting row, batch by batch, and sends each batch on.
async fn sequence_all(state: &AppState, stream: &mut Stream) {
    loop {
        let rows = match sequencer::sequence(&state.db).await {
            Ok(rows) => {
                stream.database_answered();
                rows
            }
            Err(e) => {
                stream.database_failed("sequencing the outbox", &e);
                return;
            }
        };
        let full = rows.len() == BATCH;
        let rows: Vec<WireRow> = rows.into_iter().filter_map(WireRow::of).collect();
        if rows.is_empty() {
            return;
        }
        publish(state, &rows).await;
        stream.accept(rows).await;
        if !full {
            return;
        }
    }
}

/// Sends rows to the other instances through Redis, when configured. A failure is logged and
/// left to the other instances' tails.
async fn publish(state: &AppState, rows: &[WireRow]) {
    let Some(conn) = &state.redis else {
        return;
    };
    let ch = channel(&state.settings.redis_prefix);
    for chunk in rows.chunks(PUBLISH_CHUNK) {
        let Ok(body) = serde_json::to_string(chunk) else {
            continue;
        };
        let mut conn = conn.clone();
        let sent = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&ch)
                .arg(body)
                .query_async::<i64>(&mut conn),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "live: publishing to Redis failed"),
            Err(_) => tracing::warn!("live: publishing to Redis timed out"),
        }
    }
}

/// Hands every row published on the channel to this instance's stream, reconnecting with
/// backoff when Redis goes away. Ends when the instance stops.
async fn subscribe(url: String, ch: String, inbox: mpsc::Sender<Vec<WireRow>>, mut stop: Stop) {
    let mut backoff = Duration::from_millis(500);
    loop {
        tokio::select! {
            listened = listen(&url, &ch, &inbox, &mut backoff) => match listened {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "live: Redis subscription lost");
                }
            },
            () = stop.requested() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.requested() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription, until the connection fails (an error) or the stream's task is gone (Ok).
async fn listen(
    url: &str,
    ch: &str,
    inbox: &mpsc::Sender<Vec<WireRow>>,
    backoff: &mut Duration,
) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(ch).await?;
    *backoff = Duration::from_millis(500);
    tracing::debug!(channel = ch, "live: subscribed to Redis");
    let (mut sink, mut messages) = pubsub.split();
    let mut ping = tokio::time::interval(REDIS_PING);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = messages.next() => {
                let Some(msg) = msg else {
                    return Err(redis::RedisError::from((redis::ErrorKind::Io, "connection closed")));
                };
                match serde_json::from_slice::<Vec<WireRow>>(msg.get_payload_bytes()) {
                    Ok(rows) => {
                        if inbox.send(rows).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "live: unreadable message on the Redis channel"),
                }
            }
            _ = ping.tick() => {
                match tokio::time::timeout(REDIS_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(redis::RedisError::from((redis::ErrorKind::Io, "ping timed out"))),
                }
            }
        }
    }
}
