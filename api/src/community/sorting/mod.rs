//! Garbage-sorting accounts (垃圾分类): a household or a renter holds an account; staff on
//! their rounds or a sorting station (an API key with `sorting:write`) post records of how well
//! the rubbish was sorted, and each record pays the holder the policy's points for its result
//! into the one ledger (`source_kind = "sorting"`, source id = the record id).
//!
//! The policy is data, a row per result in `sorting_policy` (seeded good 5, fair 2, poor 0,
//! changed by admins); a record keeps the points it paid, so a later policy change never
//! rewrites history. A result worth 0 points writes no ledger row.
//!
//! Who may rate which account, and how often, is decided in [`raters`]. A correction
//! (`corrects`) replaces one of the day's ratings: the old record is marked superseded and its
//! points are taken back by a reversing ledger row before the new record pays; no row is edited.
//! An idempotency key belongs to its poster (a user or a station): another poster's same key is
//! another record.

pub mod raters;

use chrono::{DateTime, Utc};
use places::locate::LocateIndex;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::{buildings, sorting_accounts, sorting_policy, sorting_records, users};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::pagination::{Page, PageRequest};
use crate::points;
use crate::stored::{self, Corrupt};
pub use raters::{Rater, RatingRefusal};

/// Who holds an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// 住户: a household living in its own home.
    Household,
    /// 租户: a renter.
    Renter,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Household => "household",
            AccountKind::Renter => "renter",
        }
    }

    /// A stored kind; an unknown one is a corrupt row.
    fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup(
            "sorting account kind",
            &[AccountKind::Household, AccountKind::Renter],
            Self::as_str,
            s,
        )
    }
}

/// How well one drop-off was sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortResult {
    /// 优: sorted correctly.
    Good,
    /// 良: mostly sorted.
    Fair,
    /// 差: not sorted.
    Poor,
}

impl SortResult {
    pub const ALL: [SortResult; 3] = [SortResult::Good, SortResult::Fair, SortResult::Poor];

    pub fn as_str(self) -> &'static str {
        match self {
            SortResult::Good => "good",
            SortResult::Fair => "fair",
            SortResult::Poor => "poor",
        }
    }

    /// A stored result; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup("sorting result", &Self::ALL, Self::as_str, s)
    }
}

/// A sorting account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    #[schema(example = "QSH-B001-0302")]
    pub code: String,
    pub holder_id: Uuid,
    pub kind: AccountKind,
    pub building_code: Option<String>,
    #[schema(example = "3-302")]
    pub unit_label: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn account_view(a: sorting_accounts::Model) -> ApiResult<AccountView> {
    Ok(AccountView {
        kind: AccountKind::parse(&a.kind)?,
        code: a.code,
        holder_id: a.holder_id,
        building_code: a.building_code,
        unit_label: a.unit_label,
        created_at: a.created_at,
    })
}

/// A validated new account.
pub struct NewAccount {
    pub code: String,
    pub holder: Uuid,
    /// Who opens it: they may never rate it.
    pub opened_by: Option<Uuid>,
    pub kind: AccountKind,
    pub building_code: Option<String>,
    pub unit_label: Option<String>,
}

pub async fn create_account(db: &DatabaseConnection, new: NewAccount) -> ApiResult<AccountView> {
    let holder = users::Entity::find_by_id(new.holder).one(db).await?;
    if holder.is_none() {
        return Err(ApiError::invalid(
            "holder_id",
            "unknown_user",
            "no such account",
        ));
    }
    // A household is a home in a building: its building decides who rates it, and its unit
    // names who shares it (nobody rates their own household). Every fault is named at once.
    let mut errors = Vec::new();
    match new.building_code.as_deref() {
        None if new.kind == AccountKind::Household => errors.push(FieldError::new(
            "building_code",
            "required",
            "a household account belongs to a building",
        )),
        Some(code) => {
            let found = buildings::Entity::find()
                .filter(buildings::Column::Code.eq(code))
                .one(db)
                .await?;
            if found.is_none() {
                errors.push(FieldError::new(
                    "building_code",
                    "unknown_building",
                    format!("no building {code}"),
                ));
            }
        }
        None => {}
    }
    if new.kind == AccountKind::Household && new.unit_label.is_none() {
        errors.push(FieldError::new(
            "unit_label",
            "required",
            "a household account names its unit (户室)",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let row = sorting_accounts::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(new.code),
        holder_id: Set(new.holder),
        kind: Set(new.kind.as_str().to_owned()),
        building_code: Set(new.building_code),
        unit_label: Set(new.unit_label),
        opened_by: Set(new.opened_by),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            field: Some("code"),
            detail: "a sorting account with this code exists".to_owned(),
        },
        _ => ApiError::Database(e),
    })?;
    account_view(row)
}

/// Who asks for an account: its holder, or staff who see every account.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user: Uuid,
    pub staff: bool,
}

async fn find_account(
    db: &impl ConnectionTrait,
    code: &str,
) -> ApiResult<Option<sorting_accounts::Model>> {
    Ok(sorting_accounts::Entity::find()
        .filter(sorting_accounts::Column::Code.eq(code))
        .one(db)
        .await?)
}

/// An account for its holder or staff; 404 for anyone else, as for a missing one.
pub async fn get_account(
    db: &impl ConnectionTrait,
    code: &str,
    who: Viewer,
) -> ApiResult<AccountView> {
    account_view(visible(db, code, who).await?)
}

async fn visible(
    db: &impl ConnectionTrait,
    code: &str,
    who: Viewer,
) -> ApiResult<sorting_accounts::Model> {
    find_account(db, code)
        .await?
        .filter(|a| who.staff || a.holder_id == who.user)
        .ok_or(ApiError::NotFound("sorting account"))
}

/// Accounts in creation order, all or one holder's.
pub async fn list_accounts(
    db: &impl ConnectionTrait,
    holder: Option<Uuid>,
    page: PageRequest,
) -> ApiResult<Page<AccountView>> {
    let mut q = sorting_accounts::Entity::find().order_by_asc(sorting_accounts::Column::Id);
    if let Some(h) = holder {
        q = q.filter(sorting_accounts::Column::HolderId.eq(h));
    }
    if let Some(after) = page.after {
        q = q.filter(sorting_accounts::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let p = Page::from_rows(rows, &page, |r| r.id);
    Ok(Page {
        items: p
            .items
            .into_iter()
            .map(account_view)
            .collect::<ApiResult<_>>()?,
        next_cursor: p.next_cursor,
    })
}

/// Who posted a record.
#[derive(Debug, Clone)]
pub enum Poster {
    /// A person: [`raters::may_rate`] decides whether they rate this account.
    User(Rater),
    /// A sorting station, by its API key id: the sorting point itself.
    Station(Uuid),
}

impl Poster {
    fn kind_and_id(&self) -> (&'static str, Uuid) {
        match self {
            Poster::User(r) => ("user", r.user),
            Poster::Station(id) => ("station", *id),
        }
    }
}

/// A record of one drop-off.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordView {
    pub id: Uuid,
    pub account_code: String,
    pub result: SortResult,
    /// Points the record paid the holder.
    pub points: i32,
    pub note: Option<String>,
    /// `user` (staff) or `station` (an API key).
    pub poster_kind: String,
    pub observed_at: DateTime<Utc>,
    /// The Asia/Shanghai day the rating counts for.
    #[schema(example = "2026-12-05")]
    pub day: Option<String>,
    /// The later record that corrected this one (its points were taken back).
    pub superseded_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

fn record_view(r: sorting_records::Model, account_code: &str) -> ApiResult<RecordView> {
    let result = SortResult::parse(&r.result)?;
    Ok(RecordView {
        id: r.id,
        account_code: account_code.to_owned(),
        result,
        points: r.points,
        note: r.note,
        poster_kind: r.poster_kind,
        observed_at: r.observed_at,
        day: r.day,
        superseded_by: r.superseded_by,
        created_at: r.created_at,
    })
}

/// A validated record to post.
pub struct NewRecord {
    /// The client's id or `Idempotency-Key`.
    pub key: String,
    pub result: SortResult,
    pub note: Option<String>,
    pub observed_at: DateTime<Utc>,
    /// The record of the same day this one corrects.
    pub corrects: Option<Uuid>,
}

/// The stored key: the poster's own key, so no one else's retry can find it.
fn scoped_key(poster: &Poster, key: &str) -> String {
    let (kind, id) = poster.kind_and_id();
    format!("{kind}:{id}:{key}")
}

async fn by_key(
    db: &impl ConnectionTrait,
    account: Uuid,
    key: &str,
) -> ApiResult<Option<sorting_records::Model>> {
    Ok(sorting_records::Entity::find()
        .filter(sorting_records::Column::AccountId.eq(account))
        .filter(sorting_records::Column::IdemKey.eq(key))
        .one(db)
        .await?)
}

fn replay(first: sorting_records::Model, new: &NewRecord, code: &str) -> ApiResult<RecordView> {
    if first.result == new.result.as_str() && first.note == new.note {
        record_view(first, code)
    } else {
        Err(ApiError::invalid(
            "id",
            "key_reused",
            "this id or Idempotency-Key was used for another record of this account",
        ))
    }
}

/// The points a result earns now.
async fn points_for(db: &impl ConnectionTrait, result: SortResult) -> ApiResult<i32> {
    Ok(sorting_policy::Entity::find_by_id(result.as_str())
        .one(db)
        .await?
        .map_or(0, |p| p.points))
}

/// Posts a record once per poster and key and pays the holder, within the rules of
/// [`raters`]. True in the second place for a retry.
pub async fn post_record(
    db: &DatabaseConnection,
    index: &LocateIndex,
    code: &str,
    new: NewRecord,
    poster: Poster,
) -> ApiResult<(RecordView, bool)> {
    let account = find_account(db, code)
        .await?
        .ok_or(ApiError::NotFound("sorting account"))?;
    let key = scoped_key(&poster, &new.key);
    if let Some(first) = by_key(db, account.id, &key).await? {
        return Ok((replay(first, &new, code)?, true));
    }
    if let Poster::User(rater) = &poster {
        raters::may_rate(db, index, rater, &account).await?;
    }
    let street = raters::street_of_building(db, account.building_code.as_deref()).await?;
    let limit = raters::ratings_per_day(db, street.as_deref()).await?;
    let day = points::local_day(new.observed_at)
        .format("%Y-%m-%d")
        .to_string();
    let tx = crate::db::begin_write(db).await?;
    // The account's row lock orders its ratings, so two posts never both take the day's last
    // place (SQLite's write transaction already serialises them).
    sorting_accounts::Entity::find_by_id(account.id)
        .lock_exclusive()
        .one(&tx)
        .await?;
    if let Some(first) = by_key(&tx, account.id, &key).await? {
        return Ok((replay(first, &new, code)?, true));
    }
    let standing = sorting_records::Entity::find()
        .filter(sorting_records::Column::AccountId.eq(account.id))
        .filter(sorting_records::Column::Day.eq(&day))
        .filter(sorting_records::Column::SupersededBy.is_null())
        .all(&tx)
        .await?;
    let replaced =
        match new.corrects {
            Some(target) => Some(standing.into_iter().find(|r| r.id == target).ok_or_else(
                || {
                    ApiError::invalid(
                        "corrects",
                        "not_correctable",
                        format!("not a standing rating of account {code} on {day}"),
                    )
                },
            )?),
            None if standing.len() >= usize::try_from(limit).unwrap_or(1) => {
                return Err(RatingRefusal::DailyLimit {
                    account: code.to_owned(),
                    day,
                    limit,
                }
                .into());
            }
            None => None,
        };
    let id = Uuid::now_v7();
    if let Some(old) = &replaced {
        sorting_records::Entity::update_many()
            .col_expr(
                sorting_records::Column::SupersededBy,
                sea_orm::sea_query::Expr::value(id),
            )
            .filter(sorting_records::Column::Id.eq(old.id))
            .exec(&tx)
            .await?;
        points::reverse(
            &tx,
            account.holder_id,
            "sorting",
            &format!("{}:reversed", old.id),
            old.points,
            &format!("垃圾分类更正：撤回 {}", old.result),
        )
        .await?;
    }
    let asked = points_for(&tx, new.result).await?;
    let paid = if asked > 0 {
        let note = format!("垃圾分类 {}", new.result.as_str());
        points::earn(
            &tx,
            points::Earning {
                user: account.holder_id,
                source_kind: "sorting",
                source_id: &id.to_string(),
                amount: asked,
                note: Some(&note),
                street: street.as_deref(),
            },
        )
        .await?
        .paid
    } else {
        0
    };
    let (poster_kind, poster_id) = poster.kind_and_id();
    let inserted = sorting_records::ActiveModel {
        id: Set(id),
        account_id: Set(account.id),
        idem_key: Set(key.clone()),
        result: Set(new.result.as_str().to_owned()),
        points: Set(paid),
        note: Set(new.note.clone()),
        poster_kind: Set(poster_kind.to_owned()),
        poster_id: Set(poster_id),
        observed_at: Set(new.observed_at),
        created_at: Set(Utc::now()),
        day: Set(Some(day)),
        superseded_by: Set(None),
    }
    .insert(&tx)
    .await;
    let row = match inserted {
        Ok(row) => row,
        // A concurrent retry on another connection won (PostgreSQL): answer with its record.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            drop(tx);
            let first = by_key(db, account.id, &key)
                .await?
                .ok_or(ApiError::Database(e))?;
            return Ok((replay(first, &new, code)?, true));
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok((record_view(row, code)?, false))
}

/// An account's records, newest first, for its holder or staff.
pub async fn records(
    db: &impl ConnectionTrait,
    code: &str,
    who: Viewer,
    page: PageRequest,
) -> ApiResult<Page<RecordView>> {
    let account = visible(db, code, who).await?;
    let mut q = sorting_records::Entity::find()
        .filter(sorting_records::Column::AccountId.eq(account.id))
        .order_by_desc(sorting_records::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(sorting_records::Column::Id.lt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let p = Page::from_rows(rows, &page, |r| r.id);
    Ok(Page {
        items: p
            .items
            .into_iter()
            .map(|r| record_view(r, code))
            .collect::<ApiResult<_>>()?,
        next_cursor: p.next_cursor,
    })
}

/// The points one result earns.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyRow {
    pub result: SortResult,
    pub points: i32,
}

/// The policy, one row per result (a result missing from the table earns 0).
pub async fn policy(db: &impl ConnectionTrait) -> ApiResult<Vec<PolicyRow>> {
    let mut out = Vec::new();
    for result in SortResult::ALL {
        out.push(PolicyRow {
            result,
            points: points_for(db, result).await?,
        });
    }
    Ok(out)
}

/// Sets the points of one result; records already posted keep what they paid.
pub async fn set_policy(
    db: &DatabaseConnection,
    result: SortResult,
    points: i32,
) -> ApiResult<PolicyRow> {
    sorting_policy::Entity::insert(sorting_policy::ActiveModel {
        result: Set(result.as_str().to_owned()),
        points: Set(points),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(sorting_policy::Column::Result)
            .update_column(sorting_policy::Column::Points)
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(PolicyRow { result, points })
}
