//! The points ledger (积分): one append-only row per award, spend or correction; a balance is the
//! sum, never a stored number that can drift. A unique key on (account, source kind, source id)
//! makes every award idempotent: retries and replays never pay twice.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::points_ledger;
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};

/// Records an award once; a second call for the same source does nothing. True when it paid.
pub async fn award(
    db: &impl ConnectionTrait,
    user: Uuid,
    source_kind: &str,
    source_id: &str,
    amount: i32,
    note: Option<&str>,
) -> ApiResult<bool> {
    let done = points_ledger::Entity::insert(points_ledger::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        source_kind: Set(source_kind.to_owned()),
        source_id: Set(source_id.to_owned()),
        amount: Set(amount),
        note: Set(note.map(str::to_owned)),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([
        points_ledger::Column::UserId,
        points_ledger::Column::SourceKind,
        points_ledger::Column::SourceId,
    ])
    .exec(db)
    .await?;
    Ok(matches!(done, sea_orm::TryInsertResult::Inserted(_)))
}

/// The sum of an account's rows.
pub async fn balance(db: &impl ConnectionTrait, user: Uuid) -> ApiResult<i64> {
    let sum: Option<Option<i64>> = points_ledger::Entity::find()
        .select_only()
        .column_as(points_ledger::Column::Amount.sum(), "total")
        .filter(points_ledger::Column::UserId.eq(user))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or(0))
}

/// One row of an account's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerRow {
    pub id: Uuid,
    /// `report`, later `patrol`, `volunteer`, `redemption`, `adjustment`.
    pub source_kind: String,
    pub source_id: String,
    pub amount: i32,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An account's rows, newest first.
pub async fn history(
    db: &impl ConnectionTrait,
    user: Uuid,
    page: PageRequest,
) -> ApiResult<Page<LedgerRow>> {
    let mut q = points_ledger::Entity::find()
        .filter(points_ledger::Column::UserId.eq(user))
        .order_by_desc(points_ledger::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(points_ledger::Column::Id.lt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let page_rows = Page::from_rows(rows, &page, |r| r.id);
    Ok(Page {
        items: page_rows
            .items
            .into_iter()
            .map(|r| LedgerRow {
                id: r.id,
                source_kind: r.source_kind,
                source_id: r.source_id,
                amount: r.amount,
                note: r.note,
                created_at: r.created_at,
            })
            .collect(),
        next_cursor: page_rows.next_cursor,
    })
}
