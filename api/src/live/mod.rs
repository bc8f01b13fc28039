//! Live delivery and catch-up. Every change a client should hear of is written to the outbox in
//! the transaction that makes it ([`outbox::record`]); the sequencer gives committed rows their
//! cursor positions in commit order and publishes them on the bus (in-process, or Redis pub/sub
//! when configured) to every instance, whose websocket hub pushes them to the clients they
//! concern. A client that was away reads the same rows by cursor from `GET /api/v1/feed`.

pub mod outbox;
pub mod routes;

/// The live side of one instance.
#[derive(Default)]
pub struct Live {
    /// Wakes the sequencer when this instance committed outbox rows.
    poke: tokio::sync::Notify,
}

impl Live {
    /// Tells the sequencer new rows were committed, so they go out now rather than at its next
    /// tick.
    pub fn poke(&self) {
        self.poke.notify_one();
    }
}
