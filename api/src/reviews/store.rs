//! Keeping reviews: generating a month's (on demand, or the scheduler's whole street), the
//! assessment of a draft, submission, comments, read marks and corrections.
//!
//! A submitted review never changes but for the command centre's read mark: every write of the
//! assessment or the status is a compare-and-set on `status = 'draft'`, so a submission racing
//! an edit leaves one of them refused (409). A correction is the next version, a new draft row
//! carrying the submitted assessment over, with figures generated afresh; the unique key on
//! (area, month, version) makes two corrections (or two generations) of one version collide.
//!
//! When the last grid of a street submits its month, the street's dispatchers and admins are
//! mailed once: each submission of the month locks the street's `review_months` row first
//! (PostgreSQL: `FOR UPDATE`; SQLite's write transaction already serialises), so the last two
//! submissions are counted one after the other, and `notified_at` is set by compare-and-set with
//! the mail queued in the same transaction.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use places::locate::LocateIndex;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::figures::{Figures, StreetTree, for_street};
use super::month::Month;
use super::{ReviewScope, ReviewStatus};
use crate::entities::{areas, review_comments, review_months, reviews, users};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};

/// Someone named on a review.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
}

/// A review as listed: everything but its figures and comments.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewView {
    pub id: Uuid,
    pub scope: ReviewScope,
    pub area_code: String,
    pub area_name: String,
    pub street_code: String,
    /// `YYYY-MM`, Asia/Shanghai.
    pub month: String,
    /// 1 for the first generation; each correction is the next.
    pub version: i32,
    pub status: ReviewStatus,
    /// The area worker's assessment (研判意见); null until written.
    pub assessment: Option<String>,
    pub generated_at: DateTime<Utc>,
    /// Who asked for it; null for the monthly scheduler.
    pub generated_by: Option<Person>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub submitted_by: Option<Person>,
    /// When the command centre marked it read, and who.
    pub read_at: Option<DateTime<Utc>>,
    pub read_by: Option<Person>,
}

/// A comment on a review.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CommentView {
    pub id: Uuid,
    pub review_id: Uuid,
    pub author: Person,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// One version of the same area's month.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VersionRef {
    pub id: Uuid,
    pub version: i32,
    pub status: ReviewStatus,
}

/// A review opened: the review, its figures as generated, its comments (oldest first) and
/// every version of its area's month (oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewDetail {
    pub review: ReviewView,
    pub figures: Figures,
    pub comments: Vec<CommentView>,
    pub versions: Vec<VersionRef>,
}

fn conflict(detail: impl Into<String>) -> ApiError {
    ApiError::Conflict {
        field: None,
        detail: detail.into(),
    }
}

/// A submitted review is refused any change but a read mark.
fn submitted() -> ApiError {
    conflict("this review has been submitted and no longer changes; correct it with a new version")
}

/// The review `id`, or 404.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<reviews::Model> {
    reviews::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("review"))
}

/// What a new version is, besides its area and figures.
struct NewVersion {
    scope: ReviewScope,
    month: Month,
    version: i32,
    assessment: Option<String>,
    by: Option<Uuid>,
}

fn row(
    area: &areas::Model,
    street: &str,
    new: NewVersion,
    figures: &Figures,
    now: DateTime<Utc>,
) -> ApiResult<reviews::ActiveModel> {
    Ok(reviews::ActiveModel {
        id: Set(Uuid::now_v7()),
        scope: Set(new.scope.as_str().to_owned()),
        area_code: Set(area.code.clone()),
        street_code: Set(street.to_owned()),
        month: Set(new.month.label()),
        version: Set(new.version),
        figures: Set(serde_json::to_string(figures).map_err(anyhow::Error::from)?),
        assessment: Set(new.assessment),
        status: Set(ReviewStatus::Draft.as_str().to_owned()),
        generated_at: Set(now),
        generated_by: Set(new.by),
        submitted_by: Set(None),
        submitted_at: Set(None),
        read_by: Set(None),
        read_at: Set(None),
    })
}

/// A unique-key collision on a review's version: another generation or correction got there
/// first.
fn version_taken(e: DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            conflict("this version was generated meanwhile; read it again")
        }
        _ => e.into(),
    }
}

/// Generates the first version of `area`'s review of `month` (on demand). A month already
/// generated is a 409 naming `month`: its next version is a correction.
pub async fn generate(
    db: &DatabaseConnection,
    tree: &StreetTree,
    area: &areas::Model,
    month: Month,
    by: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<reviews::Model> {
    let scope = ReviewScope::of_level(&area.level).ok_or_else(|| {
        ApiError::invalid(
            "area",
            "invalid_value",
            format!(
                "{} is a {}: reviews are of grids, communities and streets",
                area.code, area.level
            ),
        )
    })?;
    let exists = reviews::Entity::find()
        .filter(reviews::Column::AreaCode.eq(&area.code))
        .filter(reviews::Column::Month.eq(month.label()))
        .one(db)
        .await?;
    if exists.is_some() {
        return Err(ApiError::Conflict {
            field: Some("month"),
            detail: format!(
                "{}'s review of {month} exists; correct it with a new version",
                area.code
            ),
        });
    }
    let Some((_, _, figures)) = for_street(db, tree, month, Some(&area.code), now)
        .await?
        .into_iter()
        .next()
    else {
        return Err(ApiError::NotFound("area"));
    };
    let tx = crate::db::begin_write(db).await?;
    let first = NewVersion {
        scope,
        month,
        version: 1,
        assessment: None,
        by: Some(by),
    };
    let model = row(area, &tree.street.code, first, &figures, now)?
        .insert(&tx)
        .await
        .map_err(version_taken)?;
    tx.commit().await?;
    Ok(model)
}

/// Claims the scheduled generation of `street`'s `month` inside `tx`: true for exactly one
/// caller, whatever the number of instances. The month's row is made if missing, then stamped
/// by compare-and-set: a second instance's update waits for the first one's transaction (the
/// row lock on PostgreSQL, the write lock on SQLite) and then finds it stamped.
pub async fn claim_month(
    tx: &impl ConnectionTrait,
    street: &str,
    month: Month,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    ensure_month(tx, street, month).await?;
    let done = review_months::Entity::update_many()
        .col_expr(review_months::Column::ScheduledAt, Expr::value(Some(now)))
        .filter(review_months::Column::StreetCode.eq(street))
        .filter(review_months::Column::Month.eq(month.label()))
        .filter(review_months::Column::ScheduledAt.is_null())
        .exec(tx)
        .await?;
    Ok(done.rows_affected == 1)
}

async fn ensure_month(tx: &impl ConnectionTrait, street: &str, month: Month) -> ApiResult<()> {
    review_months::Entity::insert(review_months::ActiveModel {
        street_code: Set(street.to_owned()),
        month: Set(month.label()),
        scheduled_at: Set(None),
        notified_at: Set(None),
    })
    .on_conflict_do_nothing_on([
        review_months::Column::StreetCode,
        review_months::Column::Month,
    ])
    .exec(tx)
    .await?;
    Ok(())
}

/// Whether the scheduler has generated `street`'s `month`.
pub async fn scheduled(db: &impl ConnectionTrait, street: &str, month: Month) -> ApiResult<bool> {
    Ok(review_months::Entity::find()
        .filter(review_months::Column::StreetCode.eq(street))
        .filter(review_months::Column::Month.eq(month.label()))
        .filter(review_months::Column::ScheduledAt.is_not_null())
        .one(db)
        .await?
        .is_some())
}

/// Generates, inside `tx`, the first version of every review of `street`'s `month` that does
/// not exist yet (some may have been generated on demand); returns how many.
pub async fn generate_month(
    tx: &impl ConnectionTrait,
    tree: &StreetTree,
    month: Month,
    now: DateTime<Utc>,
) -> ApiResult<usize> {
    let have: BTreeSet<String> = reviews::Entity::find()
        .select_only()
        .column(reviews::Column::AreaCode)
        .filter(reviews::Column::StreetCode.eq(&tree.street.code))
        .filter(reviews::Column::Month.eq(month.label()))
        .into_tuple::<String>()
        .all(tx)
        .await?
        .into_iter()
        .collect();
    let mut rows = Vec::new();
    for (area, scope, figures) in for_street(tx, tree, month, None, now).await? {
        if have.contains(&area.code) {
            continue;
        }
        let first = NewVersion {
            scope,
            month,
            version: 1,
            assessment: None,
            by: None,
        };
        let r = row(&area, &tree.street.code, first, &figures, now)?;
        // The figures are most of a row; the rest is well under this.
        let size = serde_json::to_string(&figures).map_or(0, |j| j.len()) + 256;
        rows.push((r, size));
    }
    let made = rows.len();
    for run in crate::db::by_size(rows, |(_, size)| *size) {
        reviews::Entity::insert_many(run.into_iter().map(|(r, _)| r))
            .exec(tx)
            .await?;
    }
    Ok(made)
}

/// Writes the assessment of a draft.
pub async fn set_assessment(
    db: &DatabaseConnection,
    id: Uuid,
    text: &str,
) -> ApiResult<reviews::Model> {
    let tx = crate::db::begin_write(db).await?;
    let done = reviews::Entity::update_many()
        .col_expr(
            reviews::Column::Assessment,
            Expr::value(Some(text.to_owned())),
        )
        .filter(reviews::Column::Id.eq(id))
        .filter(reviews::Column::Status.eq(ReviewStatus::Draft.as_str()))
        .exec(&tx)
        .await?;
    let model = find(&tx, id).await?;
    if done.rows_affected == 0 {
        return Err(submitted());
    }
    tx.commit().await?;
    Ok(model)
}

/// Submits a draft to the street: it never changes again. A draft without an assessment is
/// refused (422 `assessment`). When it is a grid's and every grid of the street has now
/// submitted the month, the street's dispatchers and admins are mailed, once.
pub async fn submit(
    db: &DatabaseConnection,
    index: &LocateIndex,
    id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<reviews::Model> {
    let tx = crate::db::begin_write(db).await?;
    let before = find(&tx, id).await?;
    let month = Month::parse("month", &before.month)
        .map_err(|_| crate::stored::Corrupt::new("review month", &before.month))?;
    ensure_month(&tx, &before.street_code, month).await?;
    // Submissions of one street's month go one at a time from here: see the module's notes.
    review_months::Entity::find()
        .filter(review_months::Column::StreetCode.eq(&before.street_code))
        .filter(review_months::Column::Month.eq(month.label()))
        .lock_exclusive()
        .one(&tx)
        .await?;
    let r = find(&tx, id).await?;
    if ReviewStatus::parse(&r.status)? == ReviewStatus::Submitted {
        return Err(submitted());
    }
    if r.assessment.as_deref().is_none_or(|a| a.trim().is_empty()) {
        return Err(ApiError::invalid(
            "assessment",
            "required",
            "write the assessment (研判意见) before submitting",
        ));
    }
    let done = reviews::Entity::update_many()
        .col_expr(
            reviews::Column::Status,
            Expr::value(ReviewStatus::Submitted.as_str()),
        )
        .col_expr(reviews::Column::SubmittedBy, Expr::value(Some(by)))
        .col_expr(reviews::Column::SubmittedAt, Expr::value(Some(now)))
        .filter(reviews::Column::Id.eq(id))
        .filter(reviews::Column::Status.eq(ReviewStatus::Draft.as_str()))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Err(submitted());
    }
    if ReviewScope::parse(&r.scope)? == ReviewScope::Grid {
        notify_if_all_in(&tx, index, &r.street_code, month, now).await?;
    }
    let model = find(&tx, id).await?;
    tx.commit().await?;
    Ok(model)
}

/// Mails the street's dispatchers and admins when every grid of the street has a submitted
/// review of `month`, unless they were mailed already.
async fn notify_if_all_in(
    tx: &impl ConnectionTrait,
    index: &LocateIndex,
    street: &str,
    month: Month,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let grids: Vec<String> = areas::Entity::find()
        .select_only()
        .column(areas::Column::Code)
        .filter(areas::Column::StreetCode.eq(street))
        .filter(areas::Column::Level.eq("grid"))
        .into_tuple()
        .all(tx)
        .await?;
    let submitted: BTreeSet<String> = reviews::Entity::find()
        .select_only()
        .column(reviews::Column::AreaCode)
        .distinct()
        .filter(reviews::Column::StreetCode.eq(street))
        .filter(reviews::Column::Month.eq(month.label()))
        .filter(reviews::Column::Scope.eq(ReviewScope::Grid.as_str()))
        .filter(reviews::Column::Status.eq(ReviewStatus::Submitted.as_str()))
        .into_tuple::<String>()
        .all(tx)
        .await?
        .into_iter()
        .collect();
    if grids.is_empty() || !grids.iter().all(|g| submitted.contains(g)) {
        return Ok(());
    }
    let first = review_months::Entity::update_many()
        .col_expr(review_months::Column::NotifiedAt, Expr::value(Some(now)))
        .filter(review_months::Column::StreetCode.eq(street))
        .filter(review_months::Column::Month.eq(month.label()))
        .filter(review_months::Column::NotifiedAt.is_null())
        .exec(tx)
        .await?;
    if first.rows_affected == 0 {
        return Ok(());
    }
    let name = areas::Entity::find()
        .filter(areas::Column::Code.eq(street))
        .one(tx)
        .await?
        .map(|a| a.name)
        .unwrap_or_else(|| street.to_owned());
    let subject = format!("【月度研判】{name} {month} 各网格研判报告已全部提交");
    let body = format!(
        "{name}（{street}）{month} 的 {n} 个网格月度研判报告已全部提交，请登录指挥中心控制台“研判报告”页查阅、批注并标记已阅。",
        n = grids.len()
    );
    for (_, to) in crate::events::sweeper::supervisors(index, tx, Some(street)).await? {
        crate::mail::enqueue(tx, &to, &subject, &body).await?;
    }
    tracing::info!(street, month = %month, grids = grids.len(), "every grid's review is in; the street is mailed");
    Ok(())
}

/// Adds a comment.
pub async fn comment(
    db: &DatabaseConnection,
    review: Uuid,
    author: Uuid,
    body: &str,
    now: DateTime<Utc>,
) -> ApiResult<review_comments::Model> {
    Ok(review_comments::ActiveModel {
        id: Set(Uuid::now_v7()),
        review_id: Set(review),
        author_id: Set(author),
        body: Set(body.to_owned()),
        created_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Marks a submitted review read; the first mark stays (a second one changes nothing). A
/// draft is not yet the street's to read (409).
pub async fn mark_read(
    db: &DatabaseConnection,
    id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<reviews::Model> {
    let tx = crate::db::begin_write(db).await?;
    let r = find(&tx, id).await?;
    if ReviewStatus::parse(&r.status)? == ReviewStatus::Draft {
        return Err(conflict(
            "a draft is not submitted yet and cannot be marked read",
        ));
    }
    reviews::Entity::update_many()
        .col_expr(reviews::Column::ReadBy, Expr::value(Some(by)))
        .col_expr(reviews::Column::ReadAt, Expr::value(Some(now)))
        .filter(reviews::Column::Id.eq(id))
        .filter(reviews::Column::ReadAt.is_null())
        .exec(&tx)
        .await?;
    let model = find(&tx, id).await?;
    tx.commit().await?;
    Ok(model)
}

/// Corrects a submitted review: its next version, a draft with figures generated afresh and
/// the assessment carried over. Only the newest version is corrected, and only once submitted
/// (409 otherwise).
pub async fn correct(
    db: &DatabaseConnection,
    tree: &StreetTree,
    id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<reviews::Model> {
    let r = find(db, id).await?;
    if ReviewStatus::parse(&r.status)? == ReviewStatus::Draft {
        return Err(conflict(
            "a draft is corrected by editing it; submit it first",
        ));
    }
    let newest = reviews::Entity::find()
        .filter(reviews::Column::AreaCode.eq(&r.area_code))
        .filter(reviews::Column::Month.eq(&r.month))
        .order_by_desc(reviews::Column::Version)
        .one(db)
        .await?
        .map(|n| n.version)
        .unwrap_or(r.version);
    if newest != r.version {
        return Err(conflict(format!(
            "version {newest} is newer; correct that one"
        )));
    }
    let month = Month::parse("month", &r.month)
        .map_err(|_| crate::stored::Corrupt::new("review month", &r.month))?;
    let Some((area, scope, figures)) = for_street(db, tree, month, Some(&r.area_code), now)
        .await?
        .into_iter()
        .next()
    else {
        return Err(ApiError::NotFound("area"));
    };
    let tx = crate::db::begin_write(db).await?;
    let next = NewVersion {
        scope,
        month,
        version: r.version + 1,
        assessment: r.assessment.clone(),
        by: Some(by),
    };
    let model = row(&area, &r.street_code, next, &figures, now)?
        .insert(&tx)
        .await
        .map_err(version_taken)?;
    tx.commit().await?;
    Ok(model)
}

/// What the list is filtered by.
#[derive(Debug, Default, Clone)]
pub struct ReviewFilter {
    pub month: Option<Month>,
    /// Reviews of this area only.
    pub area: Option<String>,
    pub status: Option<ReviewStatus>,
    pub scope: Option<ReviewScope>,
    /// Every version, not only each area's newest of a month.
    pub all_versions: bool,
    /// Only these areas (what the caller may read); None for all.
    pub only: Option<BTreeSet<String>>,
}

/// Reviews, oldest first, a page at a time.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ReviewFilter,
    page: PageRequest,
) -> ApiResult<Page<reviews::Model>> {
    let mut q = reviews::Entity::find().order_by_asc(reviews::Column::Id);
    if let Some(m) = filter.month {
        q = q.filter(reviews::Column::Month.eq(m.label()));
    }
    if let Some(a) = &filter.area {
        q = q.filter(reviews::Column::AreaCode.eq(a));
    }
    if let Some(s) = filter.status {
        q = q.filter(reviews::Column::Status.eq(s.as_str()));
    }
    if let Some(s) = filter.scope {
        q = q.filter(reviews::Column::Scope.eq(s.as_str()));
    }
    if let Some(only) = &filter.only {
        // Many codes for a worker serving a whole street: matched in chunks.
        let codes: Vec<String> = only.iter().cloned().collect();
        let mut any = Condition::any();
        for chunk in codes.chunks(500) {
            any = any.add(reviews::Column::AreaCode.is_in(chunk.to_vec()));
        }
        q = q.filter(if codes.is_empty() {
            Condition::all().add(Expr::val(1).eq(0))
        } else {
            any
        });
    }
    if !filter.all_versions {
        // No newer version of the same area's month.
        let newer = Alias::new("newer");
        let later = Query::select()
            .expr(Expr::val(1))
            .from_as(reviews::Entity, newer.clone())
            .and_where(
                Expr::col((newer.clone(), reviews::Column::AreaCode))
                    .equals((reviews::Entity, reviews::Column::AreaCode)),
            )
            .and_where(
                Expr::col((newer.clone(), reviews::Column::Month))
                    .equals((reviews::Entity, reviews::Column::Month)),
            )
            .and_where(
                Expr::col((newer, reviews::Column::Version))
                    .gt(Expr::col((reviews::Entity, reviews::Column::Version))),
            )
            .to_owned();
        q = q.filter(Expr::exists(later).not());
    }
    if let Some(after) = page.after {
        q = q.filter(reviews::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    Ok(Page::from_rows(rows, &page, |r| r.id))
}

async fn people(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> ApiResult<BTreeMap<Uuid, String>> {
    let ids: BTreeSet<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    Ok(users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect())
}

/// The reviews as listed, with names of areas and people.
pub async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<reviews::Model>,
) -> ApiResult<Vec<ReviewView>> {
    let codes: BTreeSet<String> = rows.iter().map(|r| r.area_code.clone()).collect();
    let names: BTreeMap<String, String> = if codes.is_empty() {
        BTreeMap::new()
    } else {
        areas::Entity::find()
            .filter(areas::Column::Code.is_in(codes))
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.code, a.name))
            .collect()
    };
    let who = people(
        db,
        rows.iter()
            .flat_map(|r| [r.generated_by, r.submitted_by, r.read_by])
            .flatten(),
    )
    .await?;
    let person = |id: Option<Uuid>| {
        id.map(|id| Person {
            id,
            name: who.get(&id).cloned().unwrap_or_default(),
        })
    };
    rows.into_iter()
        .map(|r| {
            Ok(ReviewView {
                id: r.id,
                scope: ReviewScope::parse(&r.scope)?,
                area_name: names
                    .get(&r.area_code)
                    .cloned()
                    .unwrap_or_else(|| r.area_code.clone()),
                area_code: r.area_code,
                street_code: r.street_code,
                month: r.month,
                version: r.version,
                status: ReviewStatus::parse(&r.status)?,
                assessment: r.assessment,
                generated_at: r.generated_at,
                generated_by: person(r.generated_by),
                submitted_at: r.submitted_at,
                submitted_by: person(r.submitted_by),
                read_at: r.read_at,
                read_by: person(r.read_by),
            })
        })
        .collect()
}

/// The comments as shown.
pub async fn comment_views(
    db: &impl ConnectionTrait,
    rows: Vec<review_comments::Model>,
) -> ApiResult<Vec<CommentView>> {
    let who = people(db, rows.iter().map(|c| c.author_id)).await?;
    Ok(rows
        .into_iter()
        .map(|c| CommentView {
            id: c.id,
            review_id: c.review_id,
            author: Person {
                id: c.author_id,
                name: who.get(&c.author_id).cloned().unwrap_or_default(),
            },
            body: c.body,
            created_at: c.created_at,
        })
        .collect())
}

/// A review opened.
pub async fn detail(db: &impl ConnectionTrait, r: reviews::Model) -> ApiResult<ReviewDetail> {
    let figures: Figures = crate::stored::json("review figures", &r.figures)?;
    let comments = review_comments::Entity::find()
        .filter(review_comments::Column::ReviewId.eq(r.id))
        .order_by_asc(review_comments::Column::Id)
        .all(db)
        .await?;
    let versions = reviews::Entity::find()
        .filter(reviews::Column::AreaCode.eq(&r.area_code))
        .filter(reviews::Column::Month.eq(&r.month))
        .order_by_asc(reviews::Column::Version)
        .all(db)
        .await?
        .into_iter()
        .map(|v| {
            Ok(VersionRef {
                id: v.id,
                version: v.version,
                status: ReviewStatus::parse(&v.status)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let review = views(db, vec![r])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("review"))?;
    Ok(ReviewDetail {
        review,
        figures,
        comments: comment_views(db, comments).await?,
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::roles::Role;
    use crate::testing::{TestResult, database, enrol, store_tree, tree, user};

    #[tokio::test]
    async fn a_submitted_review_never_changes_and_a_correction_is_the_next_version() -> TestResult {
        let db = database().await?;
        store_tree(&db).await?;
        let worker = user(&[Role::GridWorker]);
        enrol(&db, &worker, &[]).await?;
        let street = StreetTree::load(&db, "S").await?.ok_or("street S")?;
        let g1 = street
            .targets
            .iter()
            .find(|(a, _)| a.code == "S-G1")
            .map(|(a, _)| a.clone())
            .ok_or("S-G1")?;
        let now = Utc::now();
        let month = Month::of(now);
        let r = generate(&db, &street, &g1, month, worker.id, now).await?;
        assert_eq!((r.version, r.status.as_str()), (1, "draft"));
        // The same month again is a conflict naming the month.
        match generate(&db, &street, &g1, month, worker.id, now).await {
            Err(ApiError::Conflict { field, .. }) => assert_eq!(field, Some("month")),
            other => panic!("{other:?}"),
        }
        // No assessment, no submission.
        let idx = tree();
        match submit(&db, &idx, r.id, worker.id, now).await {
            Err(ApiError::Validation(e)) => assert_eq!(e[0].field, "assessment"),
            other => panic!("{other:?}"),
        }
        set_assessment(&db, r.id, "本月垃圾问题集中在一号楼").await?;
        let s = submit(&db, &idx, r.id, worker.id, now).await?;
        assert_eq!(
            (s.status.as_str(), s.submitted_by),
            ("submitted", Some(worker.id))
        );
        assert!(matches!(
            set_assessment(&db, r.id, "改写").await,
            Err(ApiError::Conflict { .. })
        ));
        assert!(matches!(
            submit(&db, &idx, r.id, worker.id, now).await,
            Err(ApiError::Conflict { .. })
        ));
        assert_eq!(
            find(&db, r.id).await?.assessment.as_deref(),
            Some("本月垃圾问题集中在一号楼")
        );
        // Marked read once: a second mark keeps the first.
        let reader = user(&[Role::Dispatcher]);
        let first = mark_read(&db, r.id, reader.id, now).await?;
        let again = mark_read(&db, r.id, worker.id, Utc::now()).await?;
        assert_eq!(
            (again.read_by, again.read_at),
            (first.read_by, first.read_at)
        );
        let v2 = correct(&db, &street, r.id, worker.id, now).await?;
        assert_eq!((v2.version, v2.status.as_str()), (2, "draft"));
        assert_eq!(v2.assessment, s.assessment);
        // Only the newest version is corrected, and a draft is edited instead.
        assert!(matches!(
            correct(&db, &street, r.id, worker.id, now).await,
            Err(ApiError::Conflict { .. })
        ));
        assert!(matches!(
            correct(&db, &street, v2.id, worker.id, now).await,
            Err(ApiError::Conflict { .. })
        ));
        assert!(matches!(
            mark_read(&db, v2.id, reader.id, now).await,
            Err(ApiError::Conflict { .. })
        ));
        // The list shows each area's newest version unless asked for all.
        let page = PageRequest::parse(None, None)?;
        let newest = list(&db, &ReviewFilter::default(), page).await?;
        assert_eq!(
            newest.items.iter().map(|r| r.version).collect::<Vec<_>>(),
            [2]
        );
        let all = ReviewFilter {
            all_versions: true,
            ..ReviewFilter::default()
        };
        assert_eq!(list(&db, &all, page).await?.items.len(), 2);
        let none = ReviewFilter {
            only: Some(BTreeSet::new()),
            ..ReviewFilter::default()
        };
        assert!(list(&db, &none, page).await?.items.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_months_scheduled_generation_is_claimed_once() -> TestResult {
        let db = database().await?;
        store_tree(&db).await?;
        let street = StreetTree::load(&db, "S").await?.ok_or("street S")?;
        let now = Utc::now();
        let month = Month::of(now).previous();
        let tx = crate::db::begin_write(&db).await?;
        assert!(claim_month(&tx, "S", month, now).await?);
        assert_eq!(generate_month(&tx, &street, month, now).await?, 6);
        tx.commit().await?;
        let tx = crate::db::begin_write(&db).await?;
        assert!(!claim_month(&tx, "S", month, now).await?);
        tx.commit().await?;
        assert!(scheduled(&db, "S", month).await?);
        assert!(!scheduled(&db, "S", month.previous()).await?);
        Ok(())
    }
}
