//! Documents in the database: a compacted snapshot per document and the changes merged since,
//! one row per merge. A document loads as its snapshot plus every change row; compaction folds
//! the rows this instance holds into a new snapshot and deletes exactly those rows, so a change
//! another instance wrote meanwhile is never lost.

use std::collections::HashSet;

use automerge::AutoCommit;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QueryTrait, Set, sea_query::OnConflict,
};
use sync_engine::DocKind;
use uuid::Uuid;

use crate::db::by_size;
use crate::entities::{sync_changes, sync_documents};
use crate::error::{ApiError, ApiResult};

/// Change rows after which a document is compacted.
pub const COMPACT_AFTER: usize = 64;

/// A document as read from the database.
pub struct Stored {
    pub kind: DocKind,
    pub subject: Uuid,
    pub doc: AutoCommit,
    pub snapshot_version: i32,
    /// The change rows folded into `doc`.
    pub rows: HashSet<Uuid>,
}

pub fn kind_name(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Task => "task",
        DocKind::Report => "report",
        DocKind::Building => "building",
    }
}

fn kind_of(name: &str) -> Option<DocKind> {
    match name {
        "task" => Some(DocKind::Task),
        "report" => Some(DocKind::Report),
        "building" => Some(DocKind::Building),
        _ => None,
    }
}

fn corrupt(id: Uuid, e: impl std::fmt::Display) -> ApiError {
    ApiError::Unexpected(anyhow::anyhow!("document {id} cannot be read: {e}"))
}

/// The document, if it was ever created.
pub async fn load(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Option<Stored>> {
    let Some(row) = sync_documents::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let kind = kind_of(&row.kind).ok_or_else(|| corrupt(id, "unknown kind"))?;
    let mut doc = AutoCommit::load(&row.snapshot).map_err(|e| corrupt(id, e))?;
    let mut rows = HashSet::new();
    apply_changes(db, id, &mut doc, &mut rows).await?;
    Ok(Some(Stored {
        kind,
        subject: row.subject,
        doc,
        snapshot_version: row.snapshot_version,
        rows,
    }))
}

/// Folds into `doc` the change rows of the document not in `known`; how many were new.
pub async fn apply_changes(
    db: &impl ConnectionTrait,
    id: Uuid,
    doc: &mut AutoCommit,
    known: &mut HashSet<Uuid>,
) -> ApiResult<usize> {
    let changes = sync_changes::Entity::find()
        .filter(sync_changes::Column::DocumentId.eq(id))
        .order_by_asc(sync_changes::Column::Id)
        .all(db)
        .await?;
    let mut new = 0;
    for c in changes {
        if known.insert(c.id) {
            doc.load_incremental(&c.data).map_err(|e| corrupt(id, e))?;
            new += 1;
        }
    }
    Ok(new)
}

/// The snapshot version stored now, to see whether another instance compacted.
pub async fn snapshot_version(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Option<i32>> {
    Ok(sync_documents::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|r| r.snapshot_version))
}

/// Writes a new document; false when another instance created it first (load theirs).
pub async fn create(
    db: &impl ConnectionTrait,
    id: Uuid,
    kind: DocKind,
    subject: Uuid,
    doc: &mut AutoCommit,
) -> ApiResult<bool> {
    let written = create_many(db, vec![(id, kind, subject, doc.save())]).await?;
    Ok(written.contains(&id))
}

/// A new document: its id, kind, subject and first snapshot.
pub type New = (Uuid, DocKind, Uuid, Vec<u8>);

/// Writes new documents in a few multi-row statements; the ids written, without those another
/// instance created first.
pub async fn create_many(db: &impl ConnectionTrait, docs: Vec<New>) -> ApiResult<HashSet<Uuid>> {
    let now = Utc::now();
    let rows = docs
        .into_iter()
        .map(
            |(id, kind, subject, snapshot)| sync_documents::ActiveModel {
                id: Set(id),
                kind: Set(kind_name(kind).to_owned()),
                subject: Set(subject),
                snapshot: Set(snapshot),
                snapshot_version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            },
        )
        .collect();
    let mut written = HashSet::new();
    for chunk in by_size(rows, |r| 200 + r.snapshot.as_ref().len()) {
        let mut insert = sync_documents::Entity::insert_many(chunk)
            // Any conflict, on the id or on the (kind, subject) it mirrors: another instance
            // wrote the document first.
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .into_query();
        insert.returning_col(sync_documents::Column::Id);
        for row in db.query_all(&insert).await? {
            written.insert(row.try_get::<Uuid>("", "id")?);
        }
    }
    Ok(written)
}

/// Writes one change row; its id.
pub async fn append(
    db: &impl ConnectionTrait,
    id: Uuid,
    data: Vec<u8>,
    peer: Option<&str>,
    user: Option<Uuid>,
) -> ApiResult<Uuid> {
    let change = NewChange {
        document: id,
        data: &data,
        peer,
        user,
    };
    append_many(db, [change])
        .await?
        .pop()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no id for a change row")))
}

/// A change row to write.
pub struct NewChange<'a> {
    pub document: Uuid,
    pub data: &'a [u8],
    pub peer: Option<&'a str>,
    pub user: Option<Uuid>,
}

/// Writes change rows in as few statements as fit [`by_size`]; their ids, in order.
pub async fn append_many<'a>(
    db: &impl ConnectionTrait,
    changes: impl IntoIterator<Item = NewChange<'a>>,
) -> ApiResult<Vec<Uuid>> {
    let now = Utc::now();
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    for c in changes {
        let id = Uuid::now_v7();
        ids.push(id);
        rows.push(sync_changes::ActiveModel {
            id: Set(id),
            document_id: Set(c.document),
            data: Set(c.data.to_vec()),
            peer_id: Set(c.peer.map(str::to_owned)),
            user_id: Set(c.user),
            created_at: Set(now),
        });
    }
    // Bytes go out as hex text at worst.
    for run in by_size(rows, |r| 160 + 2 * r.data.as_ref().len()) {
        sync_changes::Entity::insert_many(run).exec(db).await?;
    }
    Ok(ids)
}

/// Folds the rows in `rows` into a new snapshot of `doc` and deletes them; the new snapshot
/// version. Rows not in `rows` (written by another instance meanwhile) stay.
pub async fn compact(
    db: &sea_orm::DatabaseConnection,
    id: Uuid,
    doc: &mut AutoCommit,
    rows: &mut HashSet<Uuid>,
) -> ApiResult<i32> {
    let tx = crate::db::begin_write(db).await?;
    let current = sync_documents::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    let version = current.snapshot_version + 1;
    let mut row: sync_documents::ActiveModel = current.into();
    row.snapshot = Set(doc.save());
    row.snapshot_version = Set(version);
    row.updated_at = Set(Utc::now());
    row.update(&tx).await?;
    let ids: Vec<Uuid> = rows.iter().copied().collect();
    for chunk in ids.chunks(500) {
        sync_changes::Entity::delete_many()
            .filter(sync_changes::Column::Id.is_in(chunk.iter().copied()))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    rows.clear();
    Ok(version)
}

/// Who changed a document, newest first: (peer, user, when).
pub async fn history(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Vec<sync_changes::Model>> {
    Ok(sync_changes::Entity::find()
        .filter(sync_changes::Column::DocumentId.eq(id))
        .order_by_desc(sync_changes::Column::Id)
        .all(db)
        .await?)
}
