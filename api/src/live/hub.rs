//! One websocket client: replay what it missed, then the live rows it may hear, until it goes
//! away, falls too far behind, goes quiet, or its token or session ends. A connection holds its
//! audience, a receiver on the instance's stream and two timers, and nothing per row: frames are
//! serialised once per row for every client.

use std::sync::Arc;
use std::time::Duration;

use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::audience::Audience;
use super::{Delivery, feed};
use crate::auth::sessions::SessionCache;
use crate::auth::user::CurrentUser;

/// How often the server pings each client.
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// A client not heard from (not even a pong) for this long is closed.
pub const IDLE_AFTER: Duration = Duration::from_secs(50);
/// Every this many pings, the login session is checked again, so a logout elsewhere ends the
/// connection within a minute.
const SESSION_CHECK_PINGS: u32 = 3;
/// Rows per replay read.
const REPLAY_PAGE: u64 = feed::MAX_LIMIT;
/// A client that has not taken a frame for this long is dead or stuck: its connection is
/// dropped without further ado (a frame waits only when the socket's buffers are full).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest frame a client may send; clients only ever send control frames.
pub const MAX_CLIENT_FRAME: usize = 4096;

/// What the connection learnt when it was opened.
pub struct Client {
    pub user: CurrentUser,
    /// When the access token expires (Unix seconds): the connection ends then, and the client
    /// reconnects with a fresh token and its cursor.
    pub expires_at: i64,
    pub audience: Audience,
    /// The cursor the client holds, if any: replay starts after it.
    pub after: Option<i64>,
    /// The instance's stream, subscribed before the upgrade was answered: a client that holds
    /// no cursor gets every row positioned after its 101, and a replay meets the stream without
    /// a gap.
    pub rows: broadcast::Receiver<Arc<Delivery>>,
}

/// Sends a text frame; false when the client is gone or stopped reading.
async fn send(session: &mut Session, text: &str) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, session.text(text)).await,
        Ok(Ok(()))
    )
}

fn reason(code: CloseCode, why: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(why.to_owned()),
    })
}

/// What a connection's task keeps as long as it lives, and lends the connection from: the
/// database it reads what the client missed from, and the sessions it checks the login against.
///
/// The task owns it and borrows from it inside one future. Borrowing the parts in a wrapping
/// `async` block instead would keep every argument of the connection twice in the task (the
/// block's copy and the call's) as long as the connection is open.
pub trait Lender: 'static {
    fn db(&self) -> &DatabaseConnection;
    fn sessions(&self) -> &SessionCache;
}

/// Serves one client until it ends; never fails, it closes.
pub async fn serve<L: Lender>(
    lender: L,
    client: Client,
    mut session: Session,
    stream: MessageStream,
) {
    let (db, sessions) = (lender.db(), lender.sessions());
    let mut stream = stream.max_frame_size(MAX_CLIENT_FRAME);
    // Subscribed before the replay is read: a row positioned meanwhile is either in the replay
    // or on the stream, and the stream's copies of replayed rows are skipped below.
    let Client {
        user,
        expires_at,
        audience,
        after,
        mut rows,
    } = client;
    let mut skip = 0;
    if let Some(after) = after {
        // Boxed, as the session check below: database reads kept inline would make every
        // connection's task as large as their futures for its whole life.
        match Box::pin(replay(db, &audience, after, &mut session)).await {
            Ok(Some(last)) => skip = last,
            Ok(None) => return,
            Err(()) => {
                let why = reason(CloseCode::Error, "could not read what you missed; retry");
                let _ = tokio::time::timeout(SEND_TIMEOUT, session.close(why)).await;
                return;
            }
        }
    }
    let expires = tokio::time::sleep(crate::auth::principal::lifetime(expires_at));
    tokio::pin!(expires);
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pings = 0u32;
    let mut heard = Instant::now();
    let close = loop {
        tokio::select! {
            msg = stream.recv() => {
                heard = Instant::now();
                match msg {
                    Some(Ok(Message::Ping(bytes))) => {
                        if !matches!(tokio::time::timeout(SEND_TIMEOUT, session.pong(&bytes)).await, Ok(Ok(()))) {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Ok(_)) => {}
                    Some(Err(_)) => break reason(CloseCode::Protocol, "protocol error"),
                }
            }
            row = rows.recv() => match row {
                Ok(row) => {
                    if row.pos > skip
                        && audience.hears(&row)
                        && !send(&mut session, row.text_for(&audience)).await
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    break reason(CloseCode::Again, "too far behind; reconnect with after=<your last cursor>");
                }
                Err(RecvError::Closed) => break reason(CloseCode::Restart, "server stopping; reconnect with your cursor"),
            },
            () = &mut expires => {
                break reason(CloseCode::Policy, "access token expired; reconnect with a fresh token and your cursor");
            }
            _ = ping.tick() => {
                if heard.elapsed() > IDLE_AFTER {
                    break reason(CloseCode::Away, "no answer to pings");
                }
                pings += 1;
                if pings.is_multiple_of(SESSION_CHECK_PINGS)
                    && let Err(crate::error::ApiError::Unauthorized(why)) =
                        Box::pin(sessions.ensure_active(user.session)).await
                {
                    break reason(CloseCode::Policy, why);
                }
                if !matches!(tokio::time::timeout(SEND_TIMEOUT, session.ping(b"")).await, Ok(Ok(()))) {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, session.close(close)).await;
}

/// Sends the audience's rows after `after`; the last position sent (or `after`), `None` when
/// the client went away, `Err` when the database failed.
async fn replay(
    db: &DatabaseConnection,
    audience: &Audience,
    after: i64,
    session: &mut Session,
) -> Result<Option<i64>, ()> {
    let mut last = after;
    loop {
        let rows = feed::read(db, audience, last, REPLAY_PAGE)
            .await
            .map_err(|e| tracing::warn!(error = %e, "live: replay failed"))?;
        let full = rows.len() as u64 == REPLAY_PAGE;
        for row in &rows {
            let item = feed::FeedItem::of(row).shown_to(audience);
            let text = serde_json::to_string(&item).unwrap_or_default();
            if !send(session, &text).await {
                return Ok(None);
            }
            last = row.pos;
        }
        if !full {
            return Ok(Some(last));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lender of the size the route hands over: one pointer to what it lends.
    struct Pointer(std::sync::Arc<(DatabaseConnection, SessionCache)>);

    impl Lender for Pointer {
        fn db(&self) -> &DatabaseConnection {
            &self.0.0
        }
        fn sessions(&self) -> &SessionCache {
            &self.0.1
        }
    }

    fn future_size<A, B, C, D, F: std::future::Future>(_: &impl FnOnce(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn an_idle_connection_holds_a_small_task() {
        // As for sync connections: database reads are boxed, not held by every idle client.
        let size = future_size(&serve::<Pointer>);
        eprintln!("live connection future: {size} bytes");
        assert!(size <= 2048, "the live connection's future is {size} bytes");
    }
}
