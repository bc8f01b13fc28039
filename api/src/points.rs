//! The points ledger (积分): one append-only row per award, spend or correction; a balance is the
//! sum, never a stored number that can drift. A unique key on (account, source kind, source id)
//! makes every award idempotent: retries and replays never pay twice.
//!
//! Every earning (a report, a patrol check-in, a sorting record, volunteer hours) goes through
//! [`earn`], the one place the daily cap is enforced: per person and source kind, per
//! Asia/Shanghai day, the cap read from `points_caps` for the street the points are earned in
//! (`*` the default row; a source without a row is not capped). An earning over the cap pays what
//! is left of the day's allowance, and says so.
//!
//! Spending goes through [`debit`] (and admin corrections through [`adjust`]), which lock the
//! account's `users` row before summing, so two spends of one account never both pass the
//! balance check: on PostgreSQL the lock is `SELECT … FOR UPDATE`; on SQLite the write
//! transaction of `db::begin_write` already serialises writers and the lock clause is omitted.
//! [`earn`] takes the same lock, so two earnings of one person never both fit under the cap.

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::{areas, points_caps, points_ledger, users};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::street_rules;

/// The policy row every street without one of its own uses.
pub use crate::street_rules::DEFAULT_STREET;

/// Asia/Shanghai: UTC+8 all year. Days of caps and limits are its days.
pub fn local_offset() -> FixedOffset {
    // 8 h is within the ±24 h a FixedOffset takes, so the fallback is never used.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The Asia/Shanghai day `at` falls in.
pub fn local_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&local_offset()).date_naive()
}

/// The instant an Asia/Shanghai day begins.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    (day.and_hms_opt(0, 0, 0).unwrap_or_default() - chrono::Duration::hours(8)).and_utc()
}

/// The street an area lies in, when the tree holds it.
pub async fn street_of(db: &impl ConnectionTrait, area: Option<&str>) -> ApiResult<Option<String>> {
    let Some(code) = area else { return Ok(None) };
    Ok(areas::Entity::find()
        .select_only()
        .column(areas::Column::StreetCode)
        .filter(areas::Column::Code.eq(code))
        .into_tuple()
        .one(db)
        .await?)
}

/// Writes a row once; a second call for the same source does nothing. True when it wrote.
async fn insert_row(
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

/// Points someone earns for something they did.
#[derive(Debug, Clone, Copy)]
pub struct Earning<'a> {
    pub user: Uuid,
    /// `report`, `patrol`, `sorting`, `volunteer`.
    pub source_kind: &'a str,
    /// What earned it: unique per person and kind, so it pays once.
    pub source_id: &'a str,
    /// What it is worth, > 0.
    pub amount: i32,
    pub note: Option<&'a str>,
    /// The street it was earned in (its cap applies), when known.
    pub street: Option<&'a str>,
}

/// What [`earn`] credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credit {
    /// Points written now (or, for a source paid before, what it was paid then).
    pub paid: i32,
    /// The daily cap took some or all of it.
    pub capped: bool,
    /// False when the source had been paid before: nothing was written.
    pub fresh: bool,
}

/// The day's cap of a source in a street (its own row, else the default), if it is capped.
pub async fn daily_cap(
    db: &impl ConnectionTrait,
    street: Option<&str>,
    source_kind: &str,
) -> ApiResult<Option<i32>> {
    let streets = street_rules::candidates(street);
    let rows = points_caps::Entity::find()
        .filter(points_caps::Column::SourceKind.eq(source_kind))
        .filter(points_caps::Column::StreetCode.is_in(streets))
        .all(db)
        .await?;
    Ok(street_rules::own_or_default(&rows, street, |r| &r.street_code).map(|r| r.daily_cap))
}

/// What one person has earned (net of reversals) from one source since local midnight.
pub async fn earned_on(
    db: &impl ConnectionTrait,
    user: Uuid,
    source_kind: &str,
    day: NaiveDate,
) -> ApiResult<i64> {
    let sum: Option<Option<i64>> = points_ledger::Entity::find()
        .select_only()
        .column_as(points_ledger::Column::Amount.sum(), "total")
        .filter(points_ledger::Column::UserId.eq(user))
        .filter(points_ledger::Column::SourceKind.eq(source_kind))
        .filter(points_ledger::Column::CreatedAt.gte(day_start(day)))
        .filter(points_ledger::Column::CreatedAt.lt(day_start(day + chrono::Duration::days(1))))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or(0))
}

/// How much of `asked` still fits under `cap` after `earned` today.
pub fn allowance(cap: Option<i32>, earned: i64, asked: i32) -> i32 {
    match cap {
        None => asked,
        Some(cap) => {
            let left = (i64::from(cap) - earned).clamp(0, i64::from(asked));
            i32::try_from(left).unwrap_or(0)
        }
    }
}

/// Credits an earning once per source, within the day's cap of its kind in its street. Writes
/// nothing when the cap leaves nothing (the caller records that it paid 0). Must run inside a
/// write transaction: the person's row stays locked until it ends.
pub async fn earn(db: &impl ConnectionTrait, e: Earning<'_>) -> ApiResult<Credit> {
    if e.amount <= 0 {
        return Err(ApiError::Unexpected(anyhow::anyhow!(
            "earning of {} points: an earning is positive",
            e.amount
        )));
    }
    lock_account(db, e.user).await?;
    if let Some(row) = find_row(db, e.user, e.source_kind, e.source_id).await? {
        return Ok(Credit {
            paid: row.amount,
            capped: false,
            fresh: false,
        });
    }
    let cap = daily_cap(db, e.street, e.source_kind).await?;
    let earned = match cap {
        Some(_) => earned_on(db, e.user, e.source_kind, local_day(Utc::now())).await?,
        None => 0,
    };
    let paid = allowance(cap, earned, e.amount);
    if paid > 0 {
        insert_row(db, e.user, e.source_kind, e.source_id, paid, e.note).await?;
    }
    Ok(Credit {
        paid,
        capped: paid < e.amount,
        fresh: true,
    })
}

/// Takes back an earlier earning (a corrected rating): a row of its own, negative, so the ledger
/// keeps both the earning and its reversal. Once per `source_id`.
pub async fn reverse(
    db: &impl ConnectionTrait,
    user: Uuid,
    source_kind: &str,
    source_id: &str,
    amount: i32,
    note: &str,
) -> ApiResult<bool> {
    if amount <= 0 {
        return Ok(false);
    }
    insert_row(db, user, source_kind, source_id, -amount, Some(note)).await
}

/// Gives back what a cancelled spend took (`redemption_refund`); not an earning, so not capped.
pub async fn refund(
    db: &impl ConnectionTrait,
    user: Uuid,
    source_id: &str,
    amount: i32,
    note: &str,
) -> ApiResult<bool> {
    insert_row(db, user, "redemption_refund", source_id, amount, Some(note)).await
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
    /// `report`, `patrol`, `volunteer`, `adjustment`, `redemption`, `redemption_refund`,
    /// `sorting`.
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
        items: page_rows.items.into_iter().map(LedgerRow::from).collect(),
        next_cursor: page_rows.next_cursor,
    })
}

impl From<points_ledger::Model> for LedgerRow {
    fn from(r: points_ledger::Model) -> Self {
        LedgerRow {
            id: r.id,
            source_kind: r.source_kind,
            source_id: r.source_id,
            amount: r.amount,
            note: r.note,
            created_at: r.created_at,
        }
    }
}

/// Locks an account until the caller's transaction ends, so that a balance read after it stays
/// true until the spend is written. Fails with 404 `user` when there is no such account.
pub async fn lock_account(db: &impl ConnectionTrait, user: Uuid) -> ApiResult<()> {
    let found: Option<Uuid> = users::Entity::find_by_id(user)
        .select_only()
        .column(users::Column::Id)
        .lock_exclusive()
        .into_tuple()
        .one(db)
        .await?;
    found.map(|_| ()).ok_or(ApiError::NotFound("user"))
}

async fn find_row(
    db: &impl ConnectionTrait,
    user: Uuid,
    source_kind: &str,
    source_id: &str,
) -> ApiResult<Option<points_ledger::Model>> {
    Ok(points_ledger::Entity::find()
        .filter(points_ledger::Column::UserId.eq(user))
        .filter(points_ledger::Column::SourceKind.eq(source_kind))
        .filter(points_ledger::Column::SourceId.eq(source_id))
        .one(db)
        .await?)
}

fn insufficient(field: &str, balance: i64, wanted: i64) -> ApiError {
    ApiError::invalid(
        field,
        "insufficient_points",
        format!("the balance is {balance} points; {wanted} are needed"),
    )
}

/// Spends `amount` (> 0) points once for a source, never taking the balance below zero: 422
/// `insufficient_points` on `field`, naming the balance. Must run inside a write transaction
/// (`db::begin_write`); the account stays locked until it ends. True when it debited, false when
/// the source had already been debited.
pub async fn debit(
    db: &impl ConnectionTrait,
    user: Uuid,
    source_kind: &str,
    source_id: &str,
    amount: i32,
    note: Option<&str>,
    field: &str,
) -> ApiResult<bool> {
    if amount <= 0 {
        return Err(ApiError::Unexpected(anyhow::anyhow!(
            "debit of {amount} points: a debit is positive"
        )));
    }
    lock_account(db, user).await?;
    if find_row(db, user, source_kind, source_id).await?.is_some() {
        return Ok(false);
    }
    let have = balance(db, user).await?;
    if have < i64::from(amount) {
        return Err(insufficient(field, have, i64::from(amount)));
    }
    insert_row(db, user, source_kind, source_id, -amount, note).await
}

/// An admin's correction of an account, ±, with its reason.
pub struct Adjustment<'a> {
    pub user: Uuid,
    /// The admin making it: their key is theirs alone.
    pub by: Uuid,
    /// The `Idempotency-Key` of the request.
    pub key: &'a str,
    pub amount: i32,
    pub note: &'a str,
}

/// Writes an adjustment (`source_kind = "adjustment"`) once per admin and key (the row's source id
/// is `{admin id}:{key}`, so another admin's same key is another adjustment, never a replay of
/// this one): a retry with the same amount and note returns the first row (and true); another
/// body under the same key is refused.
/// A negative adjustment never takes the balance below zero.
pub async fn adjust(db: &DatabaseConnection, a: Adjustment<'_>) -> ApiResult<(LedgerRow, bool)> {
    let tx = crate::db::begin_write(db).await?;
    lock_account(&tx, a.user).await.map_err(|e| match e {
        ApiError::NotFound(_) => ApiError::invalid("user_id", "unknown_user", "no such account"),
        other => other,
    })?;
    let source = format!("{}:{}", a.by, a.key);
    if let Some(row) = find_row(&tx, a.user, "adjustment", &source).await? {
        if row.amount == a.amount && row.note.as_deref() == Some(a.note) {
            return Ok((row.into(), true));
        }
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "key_reused",
            "this key was used for another adjustment of this account",
        ));
    }
    if a.amount < 0 {
        let have = balance(&tx, a.user).await?;
        if have + i64::from(a.amount) < 0 {
            return Err(insufficient("amount", have, -i64::from(a.amount)));
        }
    }
    insert_row(&tx, a.user, "adjustment", &source, a.amount, Some(a.note)).await?;
    let row = find_row(&tx, a.user, "adjustment", &source)
        .await?
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("adjustment row vanished")))?;
    tx.commit().await?;
    Ok((row.into(), false))
}

/// The ledger's rows of one source kind, summed and counted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KindTotal {
    #[schema(example = "redemption")]
    pub source_kind: String,
    pub sum: i64,
    pub count: i64,
}

/// Sum and count of rows per source kind, by kind name.
pub async fn totals(db: &impl ConnectionTrait) -> ApiResult<Vec<KindTotal>> {
    let rows: Vec<(String, Option<i64>, i64)> = points_ledger::Entity::find()
        .select_only()
        .column(points_ledger::Column::SourceKind)
        .column_as(points_ledger::Column::Amount.sum(), "sum")
        .column_as(points_ledger::Column::Id.count(), "count")
        .group_by(points_ledger::Column::SourceKind)
        .order_by_asc(points_ledger::Column::SourceKind)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(source_kind, sum, count)| KindTotal {
            source_kind,
            sum: sum.unwrap_or(0),
            count,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_pays_what_is_left_of_the_day() {
        assert_eq!(allowance(None, 1_000, 60), 60, "no cap, no limit");
        assert_eq!(allowance(Some(100), 0, 60), 60);
        assert_eq!(allowance(Some(100), 65, 60), 35);
        assert_eq!(allowance(Some(100), 100, 60), 0);
        assert_eq!(allowance(Some(100), 140, 60), 0, "never negative");
        // A reversal earlier today leaves room again: the cap counts net earnings.
        assert_eq!(allowance(Some(10), 4, 5), 5);
    }

    #[test]
    fn days_are_asia_shanghai_days() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        // 16:30 UTC is 00:30 the next day in Shanghai.
        let day = local_day(at("2026-12-05T16:30:00Z"));
        assert_eq!(day.to_string(), "2026-12-06");
        assert_eq!(day_start(day), at("2026-12-05T16:00:00Z"));
        assert_eq!(
            local_day(at("2026-12-05T15:59:59Z")).to_string(),
            "2026-12-05"
        );
    }
}
