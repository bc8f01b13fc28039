//! Where the merges into task and report documents are written: queued and committed a batch at
//! a time, as the intake desk writes reports, rather than a transaction and a commit for each
//! merge of every phone syncing at once.
//!
//! A merge is answered only once its batch has committed, so nothing acknowledged to a phone can
//! be lost. A batch stands or falls together; if it falls, its merges are written one by one, so
//! one the database refuses fails alone.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use automerge::hydrate;
use sea_orm::DatabaseConnection;
use sync_engine::docid::DocumentId;
use uuid::Uuid;

use super::store::{self, NewChange};
use super::subject::{self, Subject, Written};
use crate::auth::user::CurrentUser;
use crate::batch::Batcher;
use crate::error::{ApiError, ApiResult};

/// Most merges in one transaction.
const MAX_BATCH: usize = 64;

/// One merge to write: the change row and what it means for the rows.
pub struct Merge {
    pub document: DocumentId,
    pub subject: Subject,
    /// The changes the merge added, as stored.
    pub data: Vec<u8>,
    pub peer: Option<String>,
    pub user: CurrentUser,
    /// The document after the merge, and the fields whose edits were taken.
    pub after: hydrate::Value,
    pub accepted: BTreeSet<String>,
}

/// A merge written: its change row, and what writing it to the rows did.
pub struct Committed {
    pub row: Uuid,
    pub written: Written,
}

type Answer = ApiResult<Committed>;

/// Told of each outbox row a merge writes, before the commit, so the row cannot come back on the
/// bus before the document is known to agree with it.
pub type Settle = Arc<dyn Fn(Uuid, DocumentId) + Send + Sync>;

/// The merge writers: merges spread over a few lanes by document, each lane writing one batch at
/// a time, so batches of different lanes overlap.
///
/// With no lanes (`--sync-writers 0`), each merge is written alone by the connection that took
/// it, a transaction and a commit each: the way to compare.
pub struct MergeDesk {
    batches: Batcher<u64, Merge, Answer>,
    lanes: u64,
    db: DatabaseConnection,
    settle: Settle,
}

impl MergeDesk {
    pub fn new(db: DatabaseConnection, lanes: usize, settle: Settle) -> Self {
        let batches = Batcher::new(
            MAX_BATCH,
            Duration::from_secs(30),
            Arc::new({
                let (db, settle) = (db.clone(), settle.clone());
                move |_lane, merges| {
                    let (db, settle) = (db.clone(), settle.clone());
                    Box::pin(async move { write(&db, &settle, merges).await })
                        as futures_util::future::BoxFuture<'static, _>
                }
            }),
        );
        Self {
            batches,
            lanes: lanes as u64,
            db,
            settle,
        }
    }

    /// Writes one merge; answers once its batch has committed.
    pub async fn submit(&self, merge: Merge) -> Answer {
        if self.lanes == 0 {
            return one(write_batch(&self.db, &self.settle, std::slice::from_ref(&merge)).await);
        }
        let mut h = DefaultHasher::new();
        merge.document.uuid().hash(&mut h);
        let lane = h.finish() % self.lanes;
        self.batches
            .submit(lane, merge)
            .await
            .map_err(|e| ApiError::Unexpected(e.into()))?
    }
}

fn one(done: ApiResult<Vec<Committed>>) -> Answer {
    done.and_then(|mut d| {
        d.pop()
            .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no outcome for a merge")))
    })
}

async fn write(db: &DatabaseConnection, settle: &Settle, merges: Vec<Merge>) -> Vec<Answer> {
    if merges.len() > 1 {
        match write_batch(db, settle, &merges).await {
            Ok(done) => return done.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::warn!(error = %e, merges = merges.len(), "sync merge batch failed; writing its merges one by one")
            }
        }
    }
    let mut answers = Vec::with_capacity(merges.len());
    for m in &merges {
        answers.push(one(write_batch(db, settle, std::slice::from_ref(m)).await));
    }
    answers
}

/// The change rows of every merge in as few statements as fit, then each merge's rows, through
/// the same functions as the REST calls; one commit.
async fn write_batch(
    db: &DatabaseConnection,
    settle: &Settle,
    merges: &[Merge],
) -> ApiResult<Vec<Committed>> {
    let tx = crate::db::begin_write(db).await?;
    let changes = merges.iter().map(|m| NewChange {
        document: m.document.uuid(),
        data: &m.data,
        peer: m.peer.as_deref(),
        user: Some(m.user.id),
    });
    let rows = store::append_many(&tx, changes).await?;
    let mut done = Vec::with_capacity(merges.len());
    for (m, row) in merges.iter().zip(rows) {
        let written = subject::write_rows(&tx, &m.user, &m.subject, &m.after, &m.accepted).await?;
        if let Some(a) = written.announced {
            settle(a, m.document);
        }
        done.push(Committed { row, written });
    }
    tx.commit().await?;
    Ok(done)
}
