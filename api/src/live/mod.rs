//! Live delivery and catch-up. Every change a client should hear of is written to the outbox in
//! the transaction that makes it ([`outbox::record`]); the sequencer gives committed rows their
//! cursor positions in commit order and publishes them on the bus (in-process, or Redis pub/sub
//! when configured) to every instance, whose websocket hub pushes them to the clients they
//! concern. A client that was away reads the same rows by cursor from `GET /api/v1/feed`.
//!
//! Each instance keeps one ordered stream of positioned rows ([`Live::subscribe`]): rows reach
//! it from this instance's sequencer, from the other instances through Redis, and from a slow
//! look at the table itself, and whatever the source, it carries every position once, in order.
//! Rows arriving out of order (two instances' publications crossing in Redis) or after a gap (a
//! Redis message lost) have the missing positions read from the database first, so a websocket
//! client's cursor is always exact.

pub mod audience;
pub mod bus;
pub mod feed;
pub mod hub;
pub mod outbox;
pub mod retention;
pub mod sequencer;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use crate::entities::outbox as outbox_rows;

/// How many rows the in-process stream holds for its slowest subscriber; a websocket client
/// further behind than this is closed and reconnects with its cursor.
pub const BUS_CAPACITY: usize = 4096;

/// The live side of one instance.
pub struct Live {
    /// Wakes the sequencer when this instance committed outbox rows.
    poke: Notify,
    /// Positioned rows, in position order, for this instance's websocket clients.
    bus: broadcast::Sender<Arc<Delivery>>,
}

impl Default for Live {
    fn default() -> Self {
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        Self {
            poke: Notify::new(),
            bus,
        }
    }
}

impl Live {
    /// Tells the sequencer new rows were committed, so they go out now rather than at its next
    /// tick.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Every row positioned from now on, in position order, each once.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivery>> {
        self.bus.subscribe()
    }

    /// How many websocket clients of this instance listen.
    pub fn listeners(&self) -> usize {
        self.bus.receiver_count()
    }
}

/// A positioned outbox row as it travels between instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireRow {
    pub pos: i64,
    /// The outbox row's id, so the instance that wrote it knows it again.
    #[serde(default)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub kind: String,
    pub grid_code: Option<String>,
    /// Absent in rows sent by instances older than the column.
    #[serde(default)]
    pub micro_grid_code: Option<String>,
    pub team_code: Option<String>,
    pub user_id: Option<Uuid>,
    /// The message body, as stored: JSON text.
    pub payload: String,
}

impl WireRow {
    /// The row, when the sequencer has positioned it.
    pub fn of(row: outbox_rows::Model) -> Option<Self> {
        Some(Self {
            pos: row.pos?,
            id: row.id,
            event_id: row.event_id,
            kind: row.kind,
            grid_code: row.grid_code,
            micro_grid_code: row.micro_grid_code,
            team_code: row.team_code,
            user_id: row.user_id,
            payload: row.payload,
        })
    }
}

/// A row ready for websocket clients: who hears it, and the frame they get, serialised once
/// for all of them.
#[derive(Debug)]
pub struct Delivery {
    pub pos: i64,
    /// The outbox row's id.
    pub id: Uuid,
    /// The event concerned: documents that mirror it refresh.
    pub event_id: Uuid,
    pub grid_code: Option<String>,
    pub micro_grid_code: Option<String>,
    pub team_code: Option<String>,
    pub user_id: Option<Uuid>,
    /// The JSON text frame: a [`feed::FeedItem`].
    pub text: Box<str>,
    /// The frame for those who may not see which report an event likely repeats, when the
    /// payload names one (rarely: most rows serve everyone with `text`).
    pub without_duplicate: Option<Box<str>>,
}

impl Delivery {
    pub fn of(row: WireRow) -> Self {
        let mut item = feed::FeedItem::of(&row);
        let text = serde_json::to_string(&item)
            .unwrap_or_default()
            .into_boxed_str();
        let without_duplicate = item
            .payload
            .get("duplicate_of")
            .is_some_and(|d| !d.is_null())
            .then(|| {
                crate::events::views::hide_duplicate(&mut item.payload);
                serde_json::to_string(&item)
                    .unwrap_or_default()
                    .into_boxed_str()
            });
        Self {
            pos: row.pos,
            id: row.id,
            event_id: row.event_id,
            grid_code: row.grid_code,
            micro_grid_code: row.micro_grid_code,
            team_code: row.team_code,
            user_id: row.user_id,
            text,
            without_duplicate,
        }
    }

    /// The frame as `audience` may see it.
    pub fn text_for(&self, audience: &audience::Audience) -> &str {
        match &self.without_duplicate {
            Some(t) if !audience.sees_duplicates() => t,
            _ => &self.text,
        }
    }
}
