//! Offline sync: the documents phones keep (tasks now; reports and building profiles follow the
//! same path), served over `GET /api/v1/sync` in the automerge-repo protocol.
//!
//! Each instance keeps the documents in use in memory ([`Docs`]), loaded on demand from the
//! database and dropped when no connection has used them for a while; everything merged is
//! written to the database before it is acknowledged. A document is shared by every connection
//! that syncs it, each with its own sync state; a merge on one wakes the others. The rows stay
//! the truth for every field they hold: after any merge, and whenever a live row names the
//! document's event (a REST move, a deadline lighting the task, an edit merged on another
//! instance), the server writes the rows' values into the document as its own change.

pub mod building_doc;
pub mod merge_desk;
pub mod session;
pub mod store;
pub mod subject;
pub mod watch;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit, ChangeHash};
use sea_orm::DatabaseConnection;
use sync_engine::docid::DocumentId;
use sync_engine::merge::{Limits, Merged, Pending};
use sync_engine::{DocKind, fields};
use tokio::sync::Notify;
use uuid::Uuid;

use self::merge_desk::{Merge, MergeDesk};
use self::subject::Subject;
use crate::auth::user::CurrentUser;
use crate::error::ApiResult;
use crate::events::catalogue::Cached;
use crate::live::Live;
use crate::places::index::SharedIndex;

/// What the sync engine works with: the database, the documents this instance holds, the area
/// tree (read afresh at each look-up, as it changes), the catalogue that moves read, and the live
/// side, woken when a merge announced something.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    pub db: &'a DatabaseConnection,
    pub docs: &'a Docs,
    pub places: &'a SharedIndex,
    pub catalogue: &'a Cached,
    pub live: &'a Live,
}

/// How long a settled outbox row is remembered while it has not come back on the bus.
const SETTLED_FOR: Duration = Duration::from_secs(600);

/// The documents this instance holds in memory.
pub struct Docs {
    open: Mutex<HashMap<DocumentId, Arc<Open>>>,
    /// This instance's automerge actor: each instance writes its own changes under its own id.
    actor: ActorId,
    pub limits: Limits,
    /// A document unused by every connection for this long is dropped from memory.
    idle_after: Duration,
    /// Outbox rows this instance wrote for a merge into a document it holds, which already
    /// agrees with the rows: when such a row comes back on the bus, that document needs no
    /// refresh (other instances' copies and other documents of the event still do).
    settled: Arc<Settled>,
    /// Where merges into tasks and reports are written, a batch per commit.
    merges: MergeDesk,
}

type Settled = Mutex<HashMap<Uuid, (DocumentId, Instant)>>;

impl Docs {
    /// The documents of an instance writing through `db` with `writers` merge writers.
    pub fn new(db: DatabaseConnection, idle_after: Duration, writers: usize) -> Self {
        let settled: Arc<Settled> = Arc::default();
        let mark = settled.clone();
        let settle: merge_desk::Settle = Arc::new(move |row, document| {
            if let Ok(mut s) = mark.lock() {
                s.insert(row, (document, Instant::now()));
            }
        });
        Self {
            open: Mutex::new(HashMap::new()),
            actor: ActorId::from(Uuid::new_v4().as_bytes().as_slice()),
            limits: Limits::default(),
            idle_after,
            settled,
            merges: MergeDesk::new(db, writers, settle),
        }
    }
}

/// One document in memory.
pub struct Open {
    pub id: DocumentId,
    pub subject: Subject,
    pub inner: tokio::sync::Mutex<Inner>,
    listeners: Mutex<Vec<Weak<Listener>>>,
    used: Mutex<Instant>,
    /// Raised whenever a live row names the document's event: who may sync it may have changed
    /// (a task redispatched to another grid), so connections look again.
    generation: AtomicU64,
}

/// The document itself, behind the lock every merge takes.
pub struct Inner {
    pub doc: AutoCommit,
    /// How many changes the document holds, for the limit.
    pub changes: usize,
    rows: HashSet<Uuid>,
    snapshot_version: i32,
}

/// A connection's wake-up: which of its documents changed since it last looked.
#[derive(Default)]
pub struct Listener {
    dirty: Mutex<HashSet<DocumentId>>,
    pub wake: Notify,
}

impl Listener {
    /// The documents that changed, emptied.
    pub fn take(&self) -> Vec<DocumentId> {
        match self.dirty.lock() {
            Ok(mut d) => d.drain().collect(),
            Err(_) => Vec::new(),
        }
    }

    fn mark(&self, id: DocumentId) {
        if let Ok(mut d) = self.dirty.lock() {
            d.insert(id);
        }
        self.wake.notify_one();
    }
}

impl Open {
    /// Wakes `listener` whenever the document changes.
    pub fn listen(&self, listener: &Arc<Listener>) {
        if let Ok(mut l) = self.listeners.lock() {
            l.retain(|w| w.strong_count() > 0);
            l.push(Arc::downgrade(listener));
        }
    }

    /// Tells every connection of the document but `except` that it changed.
    pub fn notify(&self, except: Option<&Arc<Listener>>) {
        self.touch();
        let Ok(l) = self.listeners.lock() else {
            return;
        };
        for w in l.iter() {
            if let Some(listener) = w.upgrade()
                && !except.is_some_and(|e| Arc::ptr_eq(e, &listener))
            {
                listener.mark(self.id);
            }
        }
    }

    /// Raised by every live row about the document's event.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn touch(&self) {
        if let Ok(mut u) = self.used.lock() {
            *u = Instant::now();
        }
    }

    fn idle(&self, after: Duration) -> bool {
        let listened = self
            .listeners
            .lock()
            .map(|l| l.iter().any(|w| w.strong_count() > 0))
            .unwrap_or(true);
        let quiet = self
            .used
            .lock()
            .map(|u| u.elapsed() > after)
            .unwrap_or(false);
        !listened && quiet
    }
}

impl Docs {
    /// How many documents are in memory.
    pub fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many live rows about its event the document in memory has seen, if it is in memory.
    pub fn generation_of(&self, id: DocumentId) -> Option<u64> {
        self.get(id).map(|d| d.generation())
    }

    fn get(&self, id: DocumentId) -> Option<Arc<Open>> {
        self.open.lock().ok()?.get(&id).cloned()
    }

    fn of_event(&self, event: Uuid) -> Vec<Arc<Open>> {
        match self.open.lock() {
            Ok(o) => o
                .values()
                .filter(|d| d.subject.event == Some(event))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn sweep(&self) {
        if let Ok(mut o) = self.open.lock() {
            o.retain(|_, d| !d.idle(self.idle_after));
        }
        // A row that never came back (its transaction rolled back) is forgotten in time.
        if let Ok(mut s) = self.settled.lock() {
            s.retain(|_, (_, at)| at.elapsed() < SETTLED_FOR);
        }
    }

    /// The document an outbox row was written for, if it agrees with the row already.
    fn settled(&self, row: Uuid) -> Option<DocumentId> {
        self.settled.lock().ok()?.remove(&row).map(|(d, _)| d)
    }
}

/// The document in memory, loaded (or first written) as needed, agreeing with its rows.
/// `unwritten`: the document was not in the database a moment ago, so it is written at once
/// rather than looked for first.
pub async fn open(
    engine: Engine<'_>,
    id: DocumentId,
    subject: Subject,
    unwritten: bool,
) -> ApiResult<Arc<Open>> {
    if let Some(d) = engine.docs.get(id) {
        d.touch();
        return Ok(d);
    }
    let stored = match unwritten {
        true => None,
        false => store::load(engine.db, id.uuid()).await?,
    };
    // A document this instance has just written from the rows agrees with them already.
    let (stored, fresh) = match stored {
        Some(s) => (s, false),
        None => {
            let mut doc = AutoCommit::new().with_actor(engine.docs.actor.clone());
            let mut first = subject::owned(engine.db, &subject).await?;
            first.extend(subject::initial(subject.kind));
            fields::write(&mut doc, &first).map_err(engine_error)?;
            if store::create(engine.db, id.uuid(), subject.kind, subject.id, &mut doc).await? {
                let stored = store::Stored {
                    kind: subject.kind,
                    subject: subject.id,
                    doc,
                    snapshot_version: 1,
                    rows: HashSet::new(),
                };
                (stored, true)
            } else {
                // Another instance wrote it meanwhile: then theirs is the document.
                let theirs = store::load(engine.db, id.uuid())
                    .await?
                    .ok_or(crate::error::ApiError::NotFound("document"))?;
                (theirs, false)
            }
        }
    };
    let open = in_memory(engine, id, subject, stored);
    if !fresh {
        let mut inner = open.inner.lock().await;
        reconcile(engine, &open, &mut inner, None).await?;
    }
    enter(engine, open)
}

/// A document read or just written, as this instance holds it.
fn in_memory(
    engine: Engine<'_>,
    id: DocumentId,
    subject: Subject,
    stored: store::Stored,
) -> Arc<Open> {
    let mut doc = stored.doc.with_actor(engine.docs.actor.clone());
    let changes = doc.get_changes(&[]).len();
    Arc::new(Open {
        id,
        subject,
        inner: tokio::sync::Mutex::new(Inner {
            doc,
            changes,
            rows: stored.rows,
            snapshot_version: stored.snapshot_version,
        }),
        listeners: Mutex::new(Vec::new()),
        used: Mutex::new(Instant::now()),
        generation: AtomicU64::new(0),
    })
}

/// Puts a document into the registry; the one already there if another connection was first.
fn enter(engine: Engine<'_>, open: Arc<Open>) -> ApiResult<Arc<Open>> {
    let mut map = engine
        .docs
        .open
        .lock()
        .map_err(|_| anyhow::anyhow!("document registry poisoned"))?;
    Ok(map.entry(open.id).or_insert(open).clone())
}

/// Writes from their rows, all at once, the documents of tasks that were not yet written, and
/// holds them in memory as [`open`] would; a phone's first sync asks for its grid's tasks in one
/// burst. What is left out (another kind, or written meanwhile by another instance) [`open`]
/// takes one by one.
pub async fn write_tasks(engine: Engine<'_>, wanted: &[(DocumentId, Subject)]) -> ApiResult<()> {
    let wanted: Vec<_> = wanted
        .iter()
        .filter(|(id, s)| s.kind == DocKind::Task && engine.docs.get(*id).is_none())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = wanted.iter().map(|(_, s)| s.id).collect();
    let mut owned = subject::owned_tasks(engine.db, &ids).await?;
    let mut docs = HashMap::new();
    let mut new = Vec::new();
    for (id, s) in wanted {
        let Some(mut first) = owned.remove(&s.id) else {
            continue;
        };
        first.extend(subject::initial(s.kind));
        let mut doc = AutoCommit::new().with_actor(engine.docs.actor.clone());
        fields::write(&mut doc, &first).map_err(engine_error)?;
        new.push((id.uuid(), s.kind, s.id, doc.save()));
        docs.insert(id.uuid(), (*id, *s, doc));
    }
    for written in store::create_many(engine.db, new).await? {
        let Some((id, s, doc)) = docs.remove(&written) else {
            continue;
        };
        let stored = store::Stored {
            kind: s.kind,
            subject: s.id,
            doc,
            snapshot_version: 1,
            rows: HashSet::new(),
        };
        enter(engine, in_memory(engine, id, s, stored))?;
    }
    Ok(())
}

fn engine_error(e: automerge::AutomergeError) -> crate::error::ApiError {
    crate::error::ApiError::Unexpected(anyhow::anyhow!("document engine: {e}"))
}

/// Writes the changes made after `heads` to the database, compacting when enough have piled up.
pub async fn persist(
    engine: Engine<'_>,
    open: &Open,
    inner: &mut Inner,
    heads: &[ChangeHash],
    peer: Option<&str>,
    user: Option<Uuid>,
) -> ApiResult<()> {
    let data = inner.doc.save_after(heads);
    if data.is_empty() {
        return Ok(());
    }
    let row = store::append(engine.db, open.id.uuid(), data, peer, user).await?;
    kept(engine, open, inner, row).await
}

/// Stores what a peer's message added to a document (the changes after its heads before),
/// writes the accepted fields through to the rows, and only then keeps the merge in the document
/// and the peer's sync state: what the rows did not take, with the reason, and what the rows hold
/// now when that was read on the way. For a task or a report the change row, the rows and the
/// live announcement are one transaction (shared with other merges written at the same moment),
/// so the change and what it means for the rows stand or fall together; if they fall, the
/// document in memory is as it was.
#[allow(clippy::too_many_arguments)]
pub async fn commit_merge(
    engine: Engine<'_>,
    open: &Open,
    inner: &mut Inner,
    state: &mut automerge::sync::State,
    merged: &Merged,
    mut pending: Pending,
    peer: Option<&str>,
    user: &CurrentUser,
) -> ApiResult<subject::Written> {
    let (after, accepted) = (&merged.after, &merged.review.accepted);
    let data = pending.save_after(&merged.heads_before);
    if data.is_empty() {
        pending.keep(&mut inner.doc, state, &mut inner.changes);
        return Ok(subject::Written::default());
    }
    if open.subject.kind == DocKind::Building {
        let row = store::append(engine.db, open.id.uuid(), data, peer, Some(user.id)).await?;
        pending.keep(&mut inner.doc, state, &mut inner.changes);
        kept(engine, open, inner, row).await?;
        let refused =
            subject::write_building(engine.db, engine.live, user, &open.subject, after, accepted)
                .await?;
        return Ok(subject::Written {
            refused,
            ..subject::Written::default()
        });
    }
    let committed = engine
        .docs
        .merges
        .submit(Merge {
            document: open.id,
            subject: open.subject,
            data,
            peer: peer.map(str::to_owned),
            user: user.clone(),
            after: after.clone(),
            accepted: accepted.clone(),
        })
        .await?;
    pending.keep(&mut inner.doc, state, &mut inner.changes);
    if committed.written.announced.is_some() {
        engine.live.poke();
    }
    kept(engine, open, inner, committed.row).await?;
    Ok(committed.written)
}

/// Counts a change row as folded into the document, compacting when enough have piled up.
async fn kept(engine: Engine<'_>, open: &Open, inner: &mut Inner, row: Uuid) -> ApiResult<()> {
    inner.rows.insert(row);
    if inner.rows.len() >= store::COMPACT_AFTER {
        inner.snapshot_version =
            store::compact(engine.db, open.id.uuid(), &mut inner.doc, &mut inner.rows).await?;
    }
    Ok(())
}

/// Writes the rows' values (`owned`, else read now) into the document where they differ, as the
/// server's own change; true when anything was written.
pub async fn reconcile(
    engine: Engine<'_>,
    open: &Open,
    inner: &mut Inner,
    owned: Option<Vec<(&'static str, fields::Value)>>,
) -> ApiResult<bool> {
    let owned = match owned {
        Some(o) => o,
        None => subject::owned(engine.db, &open.subject).await?,
    };
    let heads = inner.doc.get_heads();
    if !fields::write(&mut inner.doc, &owned).map_err(engine_error)? {
        return Ok(false);
    }
    inner.changes += 1;
    persist(engine, open, inner, &heads, None, None).await?;
    Ok(true)
}

/// Takes in what other instances wrote to the document, then agrees with the rows; wakes the
/// document's connections when anything changed.
async fn refresh(engine: Engine<'_>, open: &Open) -> ApiResult<()> {
    open.generation.fetch_add(1, Ordering::AcqRel);
    let mut inner = open.inner.lock().await;
    let heads = inner.doc.get_heads();
    let mut changed = false;
    if let Some(version) = store::snapshot_version(engine.db, open.id.uuid()).await?
        && version != inner.snapshot_version
        && let Some(stored) = store::load(engine.db, open.id.uuid()).await?
    {
        let mut theirs = stored.doc;
        inner.doc.merge(&mut theirs).map_err(engine_error)?;
        inner.rows = stored.rows;
        inner.snapshot_version = stored.snapshot_version;
        changed = true;
    } else {
        let Inner { doc, rows, .. } = &mut *inner;
        changed |= store::apply_changes(engine.db, open.id.uuid(), doc, rows).await? > 0;
    }
    // Count only what came in, not the whole history again.
    let added = inner.doc.get_changes(&heads).len();
    inner.changes += added;
    changed |= reconcile(engine, open, &mut inner, None).await?;
    if changed {
        drop(inner);
        open.notify(None);
    }
    Ok(())
}
