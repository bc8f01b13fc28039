//! One sync connection: the gate first (join, then access per document before any of the
//! peer's bytes for it are read), then each authorized sync message merged into the shared
//! document, reviewed, persisted and answered; changes made elsewhere are sent as they happen.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::web;
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, MessageStream, Session,
};
use automerge::sync;
use futures_util::FutureExt;
use sync_engine::access::Grant;
use sync_engine::docid::DocumentId;
use sync_engine::merge;
use sync_engine::peer::{Access, Action, Gate};
use sync_engine::protocol::{Message, PeerMetadata};
use tokio::time::Instant;

use super::subject::{self, Subject};
use super::{Engine, Listener, Open};
use crate::accounts::{self, AreaRef};
use crate::auth::user::CurrentUser;
// The same liveness rules as the live websocket: phones hold both open side by side.
use crate::auth::sessions::SessionCache;
use crate::error::ApiResult;
use crate::events::moves;
use crate::live::hub::{IDLE_AFTER, PING_EVERY, SEND_TIMEOUT};
use actix_web::ResponseError;
use sea_orm::EntityTrait;

/// The largest message a peer may send: a whole document of a few thousand edits fits.
pub const MAX_MESSAGE: usize = 8 << 20;
/// Documents one connection may name; a phone holds its grid's open tasks and buildings.
pub const MAX_DOCUMENTS: usize = 20_000;

/// How long a connection trusts the user's areas it read: a phone's first sync names hundreds
/// of documents at once, and a worker moved to another grid is seen within this.
const AREAS_FRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// The documents a connection's peer may sync, as found so far, with what the access table
/// grants it on each.
#[derive(Default)]
pub struct Allowed(HashMap<DocumentId, (Subject, Grant)>);

impl Access for Allowed {
    fn may_sync(&self, document: DocumentId) -> bool {
        self.0.contains_key(&document)
    }
}

/// A document this connection syncs: the shared document, and this peer's sync state of it.
struct Synced {
    open: Arc<Open>,
    state: sync::State,
    /// The document's generation when the peer's access was last looked up.
    checked: u64,
}

struct Connection<'a> {
    engine: Engine<'a>,
    sessions: &'a SessionCache,
    user: CurrentUser,
    gate: Gate<Allowed>,
    /// Documents whose access was looked up, allowed or not: looked up once per connection.
    checked: HashSet<DocumentId>,
    /// Documents not yet written when they were looked up: no need to try loading them.
    unwritten: HashSet<DocumentId>,
    /// The user's areas and when they were read.
    areas: Option<(Instant, Vec<AreaRef>)>,
    docs: HashMap<DocumentId, Synced>,
    listener: Arc<Listener>,
    session: Session,
}

/// Why the connection ends.
enum End {
    /// The peer went away.
    Gone,
    /// Tell the peer why and close.
    Close(String),
}

type Step = Result<(), End>;

impl From<crate::error::ApiError> for End {
    fn from(e: crate::error::ApiError) -> Self {
        tracing::warn!(error = %e, "sync: server error");
        End::Close("server error; reconnect".into())
    }
}

/// What a connection's task keeps as long as it lives, and lends the connection from: the sync
/// engine's handles and the sessions it checks the login against.
///
/// The task owns it and borrows from it inside one future. Borrowing the parts in a wrapping
/// `async` block instead would keep every argument of the connection twice in the task (the
/// block's copy and the call's) as long as the connection is open.
pub trait Lender: 'static {
    fn engine(&self) -> Engine<'_>;
    fn sessions(&self) -> &SessionCache;
}

/// Serves one peer until it goes away, breaks the protocol or its token expires.
pub async fn serve<L: Lender>(
    lender: L,
    user: CurrentUser,
    expires_at: i64,
    session: Session,
    stream: MessageStream,
) {
    let mut stream = stream
        .max_frame_size(MAX_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE);
    // The peer names the server in every message it sends: a short id (this connection's own,
    // 48 random bits) keeps those bytes down.
    let server_id = format!("gw-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let gate = Gate::new(
        server_id,
        PeerMetadata {
            storage_id: None,
            is_ephemeral: Some(false),
        },
        MAX_MESSAGE,
        Allowed::default(),
    );
    let mut c = Connection {
        engine: lender.engine(),
        sessions: lender.sessions(),
        user,
        gate,
        checked: HashSet::new(),
        unwritten: HashSet::new(),
        areas: None,
        docs: HashMap::new(),
        listener: Arc::new(Listener::default()),
        session,
    };
    let expires = tokio::time::sleep(crate::auth::principal::lifetime(expires_at));
    tokio::pin!(expires);
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    let listener = c.listener.clone();
    // A message read while gathering a burst of frames that is not a frame itself.
    let mut next: Option<Incoming> = None;
    // What a message sets in motion (look-ups, merges, database writes) is boxed: a task's
    // future is as large as its largest state, so kept inline that state would be held by
    // every idle connection for its whole life, rather than only while a message is handled.
    let end = loop {
        if let Some(msg) = next.take() {
            let step = Box::pin(c.incoming(msg, &mut stream, &mut next)).await;
            heard = Instant::now();
            if let Err(end) = step {
                break end;
            }
            continue;
        }
        let step = tokio::select! {
            msg = stream.recv() => {
                let step = Box::pin(c.incoming(msg, &mut stream, &mut next)).await;
                // Heard once handled: the time a burst of its frames takes on a busy server
                // does not count as the peer's silence.
                heard = Instant::now();
                step
            }
            () = listener.wake.notified() => Box::pin(c.push_changes()).await,
            () = &mut expires => Err(End::Close("access token expired; reconnect with a fresh token".into())),
            _ = ping.tick() => {
                if heard.elapsed() > IDLE_AFTER {
                    Err(End::Close("no answer to pings".into()))
                } else {
                    Box::pin(c.ping()).await
                }
            }
        };
        if let Err(end) = step {
            break end;
        }
    };
    if let End::Close(why) = end {
        tracing::info!(peer = c.gate.remote().unwrap_or("-"), user = %c.user.id, reason = %why, "sync: closing");
        let error = c.gate.error(&why);
        let _ = c.send(&error).await;
        let reason = Some(CloseReason {
            code: CloseCode::Policy,
            description: Some(why),
        });
        let _ = tokio::time::timeout(SEND_TIMEOUT, c.session.close(reason)).await;
    }
}

/// What the websocket gave.
type Incoming = Option<Result<AggregatedMessage, actix_ws::ProtocolError>>;

/// Most frames taken in one burst: a phone's first sync sends a request per document at once,
/// and a burst is answered only once all of it is looked up, so a small one keeps the phone busy
/// with the answers to the last while the next is looked up.
const BURST: usize = 64;

impl Connection<'_> {
    /// Acts on one message from the websocket. A frame is taken together with the frames that
    /// have already arrived behind it, so the documents they name are looked up together; a
    /// message of another kind met on the way is left in `next`.
    async fn incoming(
        &mut self,
        msg: Incoming,
        stream: &mut AggregatedMessageStream,
        next: &mut Option<Incoming>,
    ) -> Step {
        match msg {
            Some(Ok(AggregatedMessage::Binary(frame))) => {
                let mut frames = vec![frame];
                while frames.len() < BURST {
                    match stream.recv().now_or_never() {
                        Some(Some(Ok(AggregatedMessage::Binary(f)))) => frames.push(f),
                        Some(other) => {
                            *next = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                self.look_up_many(&frames).await?;
                for frame in &frames {
                    self.frame(frame).await?;
                }
                Ok(())
            }
            Some(Ok(AggregatedMessage::Ping(bytes))) => self.pong(&bytes).await,
            Some(Ok(AggregatedMessage::Text(_))) => {
                Err(End::Close("this protocol speaks binary CBOR frames".into()))
            }
            Some(Ok(AggregatedMessage::Close(_))) | None => Err(End::Gone),
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Err(e)) => Err(protocol_error(&e)),
        }
    }

    async fn send(&mut self, m: &Message) -> Step {
        match tokio::time::timeout(SEND_TIMEOUT, self.session.binary(m.encode())).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn pong(&mut self, bytes: &[u8]) -> Step {
        match tokio::time::timeout(SEND_TIMEOUT, self.session.pong(bytes)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn ping(&mut self) -> Step {
        if let Err(crate::error::ApiError::Unauthorized(why)) =
            self.sessions.ensure_active(self.user.session).await
        {
            return Err(End::Close(why.into()));
        }
        match tokio::time::timeout(SEND_TIMEOUT, self.session.ping(b"")).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    /// What the user may do with `s` now, if they may sync it at all. The user's areas are read
    /// again when older than [`AREAS_FRESH`] or when `fresh` asks.
    async fn grant(
        &mut self,
        s: &Subject,
        task: Option<(
            crate::entities::tasks::Model,
            crate::entities::events::Model,
        )>,
        fresh: bool,
    ) -> ApiResult<Option<Grant>> {
        let stale = fresh
            || self
                .areas
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() > AREAS_FRESH);
        if stale && subject::uses_areas(&self.user) {
            let areas = accounts::areas_of(self.engine.db, self.user.id).await?;
            self.areas = Some((Instant::now(), areas));
        }
        let areas = self.areas.as_ref().map_or(&[][..], |(_, a)| a.as_slice());
        subject::grant(
            self.engine.db,
            &self.engine.places.get(),
            &self.user,
            areas,
            s,
            task,
        )
        .await
    }

    /// Looks up whether the peer may sync a document it named, once per connection.
    async fn look_up(&mut self, document: DocumentId) -> Result<bool, End> {
        if self.checked.contains(&document) {
            return Ok(false);
        }
        // Each look-up reads the database: a peer naming endless made-up ids is cut off.
        if self.checked.len() >= MAX_DOCUMENTS {
            return Err(End::Close(format!(
                "more than {MAX_DOCUMENTS} documents on one connection"
            )));
        }
        self.checked.insert(document);
        let found = subject::resolve(self.engine.db, document.uuid()).await?;
        self.admit(document, found).await
    }

    /// Looks up together the documents that a burst of frames asks for and that were not
    /// looked up yet, as many as the connection may still name; [`Self::look_up`] then finds
    /// them looked up (and closes the connection for any beyond the limit).
    async fn look_up_many(&mut self, frames: &[web::Bytes]) -> Step {
        let mut new = Vec::new();
        let mut seen = HashSet::new();
        for frame in frames {
            // Only the envelope is read here; the gate reads it again in turn.
            let Some(document) = Message::decode(frame, MAX_MESSAGE)
                .ok()
                .filter(|m| matches!(m, Message::Request { .. } | Message::Sync { .. }))
                .and_then(|m| m.document_id())
            else {
                continue;
            };
            if self.checked.len() + new.len() < MAX_DOCUMENTS
                && !self.checked.contains(&document)
                && seen.insert(document)
            {
                new.push(document);
            }
        }
        if new.len() < 2 {
            return Ok(());
        }
        let ids: Vec<_> = new.iter().map(|d| d.uuid()).collect();
        let mut found = subject::resolve_many(self.engine.db, &ids).await?;
        let mut unwritten = Vec::new();
        for document in new {
            self.checked.insert(document);
            let resolved = found.remove(&document.uuid());
            let s = resolved.as_ref().filter(|r| !r.stored).map(|r| r.subject);
            if self.admit(document, resolved).await?
                && let Some(s) = s
            {
                unwritten.push((document, s));
            }
        }
        super::write_tasks(self.engine, &unwritten).await?;
        Ok(())
    }

    /// Lets the peer sync a document it looked up, if the document exists and the user may.
    async fn admit(
        &mut self,
        document: DocumentId,
        found: Option<subject::Resolved>,
    ) -> Result<bool, End> {
        let Some(found) = found else {
            return Ok(false);
        };
        let s = found.subject;
        let Some(grant) = self.grant(&s, found.task, false).await? else {
            return Ok(false);
        };
        if !found.stored {
            self.unwritten.insert(document);
        }
        self.gate.access_mut().0.insert(document, (s, grant));
        Ok(true)
    }

    async fn frame(&mut self, frame: &[u8]) -> Step {
        let mut action = self.gate.receive(frame);
        // The gate answers "unavailable" for a document it has not been told of; look it up
        // and read the frame again if the peer turns out to be allowed.
        if let Action::Reply(Message::DocUnavailable { document_id, .. }) = &action
            && self.look_up(*document_id).await?
        {
            action = self.gate.receive(frame);
        }
        match action {
            Action::Reply(m) => self.send(&m).await,
            Action::Close { reason } => Err(End::Close(reason)),
            Action::Sync { document, data, .. } => self.sync(document, &data).await,
            // Presence is not relayed yet: the server has no other peers' views to show.
            Action::Relay(_) | Action::Nothing => Ok(()),
        }
    }

    async fn sync(&mut self, document: DocumentId, data: &[u8]) -> Step {
        let Some(&(s, grant)) = self.gate.access_mut().0.get(&document) else {
            return self.send(&self.gate.unavailable(document)).await;
        };
        if !self.docs.contains_key(&document) {
            let unwritten = self.unwritten.remove(&document);
            let open = super::open(self.engine, document, s, unwritten).await?;
            open.listen(&self.listener);
            let checked = open.generation();
            self.docs.insert(
                document,
                Synced {
                    open,
                    state: sync::State::new(),
                    checked,
                },
            );
        }
        let Some(grant) = self.recheck(document, s, grant).await? else {
            return self.send(&self.gate.unavailable(document)).await;
        };
        let Some(synced) = self.docs.get_mut(&document) else {
            return Ok(());
        };
        let open = synced.open.clone();
        let mut inner = open.inner.lock().await;
        open.touch();
        let changes_before = inner.changes;
        let (merged, pending) = match merge::receive(
            &mut inner.doc,
            &mut synced.state,
            changes_before,
            s.kind,
            grant,
            data,
            &self.engine.docs.limits,
        ) {
            Ok(m) => m,
            Err(e) => return Err(self.refuse(document, &e)),
        };
        tracing::debug!(%document, added = merged.added, review = ?merged.review, "sync: merged");
        let mut reasons = merged.review.refused.clone();
        if merged.added == 0 {
            let super::Inner { doc, changes, .. } = &mut *inner;
            pending.keep(doc, &mut synced.state, changes);
        } else {
            // Kept in the document only once written: a failed write closes the connection
            // and leaves the document as it was.
            let written = super::commit_merge(
                self.engine,
                &open,
                &mut inner,
                &mut synced.state,
                &merged,
                pending,
                self.gate.remote(),
                &self.user,
            )
            .await?;
            reasons.extend(written.refused);
            let mut owned = written.owned;
            if let Some(status) = &merged.review.status_move {
                // The move changes the rows again: read them afresh.
                owned = None;
                if let Some(why) =
                    status_move(self.engine, &self.user, &s, status, &merged.after).await?
                {
                    reasons.push(("status".into(), why));
                }
            }
            super::reconcile(self.engine, &open, &mut inner, owned).await?;
            open.notify(Some(&self.listener));
        }
        let reply = merge::generate(&mut inner.doc, &mut synced.state);
        drop(inner);
        let reply = reply.map_err(|e| self.refuse(document, &e))?;
        if !reasons.is_empty() {
            tracing::info!(peer = self.gate.remote().unwrap_or("-"), user = %self.user.id, %document, refused = ?reasons, "sync: edits put back");
            let notice = self.gate.refused(document, &reasons);
            self.send(&notice).await?;
        }
        match reply {
            Some(bytes) => {
                let m = self.gate.sync(document, bytes);
                self.send(&m).await
            }
            None => Ok(()),
        }
    }

    /// What the peer may do with `document`, looked up again when a live row named the
    /// document's event since the last look (a task redispatched elsewhere, a report handled);
    /// None once the peer may no longer sync it, and then the document is dropped from this
    /// connection.
    async fn recheck(
        &mut self,
        document: DocumentId,
        s: Subject,
        grant: Grant,
    ) -> ApiResult<Option<Grant>> {
        let Some(synced) = self.docs.get_mut(&document) else {
            return Ok(None);
        };
        let generation = synced.open.generation();
        if generation == synced.checked {
            return Ok(Some(grant));
        }
        synced.checked = generation;
        let now = self.grant(&s, None, true).await?;
        match now {
            Some(e) => {
                self.gate.access_mut().0.insert(document, (s, e));
            }
            None => {
                self.docs.remove(&document);
                self.gate.access_mut().0.remove(&document);
            }
        }
        Ok(now)
    }

    /// Logs a message that is not taken in, with the peer; the connection then closes. What
    /// was wrong with the peer's message is told to it; the engine failing is the server's own
    /// and is only logged.
    fn refuse(&self, document: DocumentId, e: &merge::MergeError) -> End {
        tracing::warn!(peer = self.gate.remote().unwrap_or("-"), user = %self.user.id, %document, error = %e, "sync: message refused");
        End::Close(refusal_text(e))
    }

    /// Sends each changed document's news to this peer.
    async fn push_changes(&mut self) -> Step {
        for document in self.listener.take() {
            let Some(&(s, grant)) = self.gate.access_mut().0.get(&document) else {
                continue;
            };
            if self.recheck(document, s, grant).await?.is_none() {
                self.send(&self.gate.unavailable(document)).await?;
                continue;
            }
            let Some(synced) = self.docs.get_mut(&document) else {
                continue;
            };
            let mut inner = synced.open.inner.lock().await;
            let reply = merge::generate(&mut inner.doc, &mut synced.state);
            drop(inner);
            if let Some(bytes) = reply.map_err(|e| self.refuse(document, &e))? {
                let m = self.gate.sync(document, bytes);
                self.send(&m).await?;
            }
        }
        Ok(())
    }
}

/// Runs a status written in a document through the state machine; why not, if it failed.
async fn status_move(
    engine: Engine<'_>,
    user: &CurrentUser,
    s: &Subject,
    status: &str,
    after: &automerge::hydrate::Value,
) -> ApiResult<Option<String>> {
    let Some(event) = s.event else {
        return Ok(Some("this document has no status".into()));
    };
    let current = crate::entities::events::Entity::find_by_id(event)
        .one(engine.db)
        .await?
        .map(|e| e.status);
    // Two phones making the same move offline: the second finds it made.
    if current.as_deref() == Some(status) {
        return Ok(None);
    }
    let req = match subject::status_move(s, status, after) {
        Ok(r) => r,
        Err(why) => return Ok(Some(why)),
    };
    let index = engine.places.get();
    let moved = moves::apply(
        engine.db,
        &index,
        engine.catalogue,
        engine.live,
        user,
        event,
        req,
    )
    .await;
    match moved {
        Ok(_) => Ok(None),
        Err(e) => refused_move(e).map(Some),
    }
}

/// Why a status move written in a document was refused, to tell the peer; an error that is not
/// about the move (the database failing) stays an error, logged and never sent.
fn refused_move(e: crate::error::ApiError) -> ApiResult<String> {
    if e.status_code().is_server_error() {
        return Err(e);
    }
    // A refusal's problem detail is what a REST caller of the same move reads.
    Ok(e.problem().detail)
}

/// What the peer is told when its websocket breaks the protocol: what it did wrong, or, when
/// reading failed on the server's side, only that.
fn protocol_error(e: &actix_ws::ProtocolError) -> End {
    match e {
        actix_ws::ProtocolError::Io(io) => {
            tracing::warn!(error = %io, "sync: reading the websocket failed");
            End::Close("server error; reconnect".into())
        }
        e => End::Close(format!("websocket protocol error: {e}")),
    }
}

/// What the peer is told of a message not taken in: what was wrong with it, or, when the engine
/// itself failed on it, only that.
fn refusal_text(e: &merge::MergeError) -> String {
    match e {
        merge::MergeError::Panicked => "server error; reconnect".into(),
        e => format!("message refused: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn a_refused_move_is_told_and_a_server_failure_is_not() {
        let refused = refused_move(ApiError::Conflict {
            field: None,
            detail: "the task is not signed yet".into(),
        });
        assert_eq!(refused.ok().as_deref(), Some("the task is not signed yet"));
        for e in [
            ApiError::Unexpected(anyhow::anyhow!("pool timed out at 10.0.0.5")),
            ApiError::Database(sea_orm::DbErr::Custom("connection reset".into())),
            ApiError::Unavailable("redis at 10.0.0.6 down".into()),
        ] {
            assert!(refused_move(e).is_err());
        }
    }

    #[test]
    fn the_engine_failing_is_not_described_to_the_peer() {
        assert_eq!(
            refusal_text(&merge::MergeError::Panicked),
            "server error; reconnect"
        );
        let told = refusal_text(&merge::MergeError::Decode("bad leb128".into()));
        assert!(told.contains("bad leb128"), "{told}");
        let io = actix_ws::ProtocolError::Io(std::io::Error::other("socket 12 reset"));
        match protocol_error(&io) {
            End::Close(why) => assert!(!why.contains("socket 12"), "{why}"),
            End::Gone => panic!("closes with a reason"),
        }
    }

    /// What the route lends from, as the types it holds.
    struct Parts {
        db: sea_orm::DatabaseConnection,
        docs: crate::sync::Docs,
        places: crate::places::index::SharedIndex,
        catalogue: crate::events::catalogue::Cached,
        live: crate::live::Live,
        sessions: SessionCache,
    }

    /// A lender of the size the route hands over: one pointer to what it lends.
    struct Pointer(Arc<Parts>);

    impl Lender for Pointer {
        fn engine(&self) -> Engine<'_> {
            let p = &self.0;
            Engine {
                db: &p.db,
                docs: &p.docs,
                places: &p.places,
                catalogue: &p.catalogue,
                live: &p.live,
            }
        }
        fn sessions(&self) -> &SessionCache {
            &self.0.sessions
        }
    }

    /// The size of the future an async function of five arguments returns, without calling it.
    fn future_size<A, B, C, D, E, F: std::future::Future>(
        _: &impl FnOnce(A, B, C, D, E) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn an_idle_connection_holds_a_small_task() {
        // Every open connection holds its task's future whole, whatever state it is in: the
        // work a message sets in motion is boxed, so this stays small.
        let size = future_size(&serve::<Pointer>);
        eprintln!("sync connection future: {size} bytes");
        assert!(size <= 2048, "the sync connection's future is {size} bytes");
    }
}
