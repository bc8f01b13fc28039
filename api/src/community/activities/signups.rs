//! The signup desk: signups, cancellations and promotion from the waitlist.
//!
//! A shift's `taken` counts its confirmed places. Signups queue per shift and are written in
//! batches, each in one transaction holding the shift's row lock, which cancellations take too:
//! the free places are counted exactly and `taken` only moves in the same transaction as the
//! signups, guarded by `taken + n <= capacity`, so no rush can oversell a shift, on SQLite or on
//! PostgreSQL with any number of instances. A person holds at most one signup per shift (a
//! unique key), so retries and second phones answer with the first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use places::locate::LocateIndex;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{OPEN, find, find_shift};
use crate::auth::roles::{Coordinators, RoleSet};
use crate::auth::user::CurrentUser;
use crate::batch::Batcher;
use crate::community::volunteers;
use crate::entities::{activities, shifts, signups};
use crate::error::{ApiError, ApiResult};
use crate::live::Live;
use crate::live::outbox::{self, Entry};
use crate::pagination::{Page, PageRequest};
use crate::stored::{self, Corrupt};

/// Where a signup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignupStatus {
    /// Holds a place.
    Confirmed,
    /// Waits for a place; the first in line gets the next one that frees up.
    Waitlisted,
    Cancelled,
}

impl SignupStatus {
    const ALL: [SignupStatus; 3] = [Self::Confirmed, Self::Waitlisted, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Waitlisted => "waitlisted",
            Self::Cancelled => "cancelled",
        }
    }

    /// A stored status; an unknown one is a corrupt row.
    fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup("signup status", &Self::ALL, Self::as_str, s)
    }
}

/// A signup.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignupView {
    pub id: Uuid,
    pub activity_id: Uuid,
    pub shift_id: Uuid,
    pub user_id: Uuid,
    pub status: SignupStatus,
    /// When attended: the minutes of service credited.
    pub minutes: Option<i32>,
    pub attended_at: Option<DateTime<Utc>>,
    /// `scan` or `coordinator`.
    pub attendance_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SignupView {
    pub(super) fn of(s: signups::Model) -> Result<Self, Corrupt> {
        Ok(Self {
            id: s.id,
            activity_id: s.activity_id,
            shift_id: s.shift_id,
            user_id: s.user_id,
            status: SignupStatus::parse(&s.status)?,
            minutes: s.minutes,
            attended_at: s.attended_at,
            attendance_by: s.attendance_by,
            created_at: s.created_at,
            updated_at: s.updated_at,
        })
    }
}

/// The one eligibility rule: an activity open to all takes anyone signed in; one limited by
/// team, area or skill takes registered volunteers who meet every limit it sets.
async fn check_eligible(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    a: &activities::Model,
    user: Uuid,
) -> ApiResult<()> {
    if a.team_code.is_none() && a.area_code.is_none() && a.skill.is_none() {
        return Ok(());
    }
    if volunteers::find(db, user).await?.is_none() {
        return Err(ApiError::NotEligible(
            "this activity is for registered volunteers: register first".into(),
        ));
    }
    if let Some(team) = &a.team_code
        && !volunteers::is_active_member(db, team, user).await?
    {
        return Err(ApiError::NotEligible(format!(
            "only active members of volunteer team {team} may sign up"
        )));
    }
    if let Some(area) = &a.area_code
        && !volunteers::serves_branch(db, index, user, area).await?
    {
        return Err(ApiError::NotEligible(format!(
            "only volunteers serving {area} may sign up"
        )));
    }
    if let Some(skill) = &a.skill
        && !volunteers::has_skill(db, user, skill).await?
    {
        return Err(ApiError::NotEligible(format!(
            "only volunteers with the skill {skill} may sign up"
        )));
    }
    Ok(())
}

async fn free_place(tx: &crate::db::WriteTx, shift: Uuid) -> ApiResult<()> {
    shifts::Entity::update_many()
        .col_expr(
            shifts::Column::Taken,
            Expr::col(shifts::Column::Taken).sub(1),
        )
        .filter(shifts::Column::Id.eq(shift))
        .filter(shifts::Column::Taken.gt(0))
        .exec(tx)
        .await?;
    Ok(())
}

/// Moves a signup from one status to another if it still has the first; true when it did.
async fn set_status(
    tx: &crate::db::WriteTx,
    id: Uuid,
    from: SignupStatus,
    to: SignupStatus,
) -> ApiResult<bool> {
    let done = signups::Entity::update_many()
        .col_expr(signups::Column::Status, Expr::value(to.as_str()))
        .col_expr(signups::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(signups::Column::Id.eq(id))
        .filter(signups::Column::Status.eq(from.as_str()))
        .exec(tx)
        .await?;
    Ok(done.rows_affected == 1)
}

pub(super) async fn existing(
    db: &impl ConnectionTrait,
    shift: Uuid,
    user: Uuid,
) -> ApiResult<Option<signups::Model>> {
    Ok(signups::Entity::find()
        .filter(signups::Column::ShiftId.eq(shift))
        .filter(signups::Column::UserId.eq(user))
        .one(db)
        .await?)
}

/// Gives the first person in line a freed place, and tells them live. None when nobody waits.
async fn promote_next(
    tx: &crate::db::WriteTx,
    shift: &shifts::Model,
) -> ApiResult<Option<signups::Model>> {
    // Another transaction may take the same person first: then try the next in line.
    loop {
        let Some(first) = signups::Entity::find()
            .filter(signups::Column::ShiftId.eq(shift.id))
            .filter(signups::Column::Status.eq(SignupStatus::Waitlisted.as_str()))
            .order_by_asc(signups::Column::Id)
            .one(tx)
            .await?
        else {
            return Ok(None);
        };
        if set_status(
            tx,
            first.id,
            SignupStatus::Waitlisted,
            SignupStatus::Confirmed,
        )
        .await?
        {
            outbox::record(
                tx,
                Entry {
                    event_id: first.id,
                    kind: "signup.promoted",
                    grid_code: None,
                    micro_grid_code: None,
                    team_code: None,
                    user_id: Some(first.user_id),
                    street_code: None,
                    payload: serde_json::json!({
                        "signup_id": first.id,
                        "shift_id": shift.id,
                        "activity_id": shift.activity_id,
                        "starts_at": shift.starts_at,
                        "status": SignupStatus::Confirmed.as_str(),
                        "message": "候补转正：您已获得活动名额",
                    }),
                },
            )
            .await?;
            return Ok(Some(first));
        }
    }
}

/// The most signups one transaction writes. A rush queues far more; each batch is one commit.
const MAX_BATCH: usize = 512;

/// Rows per INSERT statement. Kept under one TLS record (16 KB): sqlx 0.9.0 leaves Nagle's
/// algorithm on, so a statement sent in several records waits ~40 ms for a delayed ACK.
const INSERT_CHUNK: usize = 64;

/// How long a signup's checks trust a shift they read; the batch reads it again under its lock.
const SHIFT_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Where signups go: queued per shift and written a batch at a time, with the shifts their
/// checks read kept for a moment, since a rush asks for the same shift thousands of times a
/// second.
pub struct SignupDesk {
    batches: Batcher<Uuid, Uuid, ApiResult<(SignupView, bool)>>,
    shifts: quick_cache::sync::Cache<Uuid, Arc<(shifts::Model, activities::Model, Instant)>>,
}

impl SignupDesk {
    /// The signup desk of a server, writing through `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        let batches = Batcher::new(
            MAX_BATCH,
            std::time::Duration::from_secs(30),
            Arc::new(move |shift, users| {
                let db = db.clone();
                Box::pin(async move { admit(&db, shift, users).await })
                    as futures_util::future::BoxFuture<'static, _>
            }),
        );
        Self {
            batches,
            shifts: quick_cache::sync::Cache::new(10_000),
        }
    }

    async fn shift(
        &self,
        db: &DatabaseConnection,
        id: Uuid,
    ) -> ApiResult<Arc<(shifts::Model, activities::Model, Instant)>> {
        if let Some(hit) = self.shifts.get(&id)
            && hit.2.elapsed() < SHIFT_TTL
        {
            return Ok(hit);
        }
        let shift = find_shift(db, id).await?;
        let activity = find(db, shift.activity_id).await?;
        let read = Arc::new((shift, activity, Instant::now()));
        self.shifts.insert(id, read.clone());
        Ok(read)
    }
}

/// Why a whole batch was refused.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    NoShift,
    Closed,
    Ended,
}

impl Refusal {
    fn error(self) -> ApiError {
        match self {
            Refusal::NoShift => ApiError::NotFound("shift"),
            Refusal::Closed => ApiError::Conflict {
                field: None,
                detail: "this activity is no longer open".into(),
            },
            Refusal::Ended => ApiError::Conflict {
                field: None,
                detail: "this shift has ended".into(),
            },
        }
    }
}

enum BatchFailure {
    Refused(Refusal),
    Failed(ApiError),
}

impl<E: Into<ApiError>> From<E> for BatchFailure {
    fn from(e: E) -> Self {
        BatchFailure::Failed(e.into())
    }
}

/// What a batch gave one person.
enum Admission {
    /// A new signup: the index in the batch's new rows.
    Made(usize),
    /// The signup the person already held (a retry, a second phone).
    Held(signups::Model),
    /// No place and no waitlist.
    Full,
}

fn full() -> ApiError {
    ApiError::Conflict {
        field: None,
        detail: "this shift is full and keeps no waitlist".into(),
    }
}

/// Writes one batch of signups for a shift and answers each person.
async fn admit(
    db: &DatabaseConnection,
    shift: Uuid,
    users: Vec<Uuid>,
) -> Vec<ApiResult<(SignupView, bool)>> {
    match admit_batch(db, shift, &users).await {
        Ok((admissions, fresh)) => admissions
            .into_iter()
            .map(|a| match a {
                Admission::Made(i) => Ok((SignupView::of(fresh[i].clone())?, true)),
                Admission::Held(s) => Ok((SignupView::of(s)?, false)),
                Admission::Full => Err(full()),
            })
            .collect(),
        Err(BatchFailure::Refused(r)) => users.iter().map(|_| Err(r.error())).collect(),
        Err(BatchFailure::Failed(e)) => {
            tracing::error!(%shift, error = %e, people = users.len(), "a batch of signups failed");
            users
                .iter()
                .map(|_| {
                    Err(ApiError::Unavailable(
                        "the signup could not be saved; try again".into(),
                    ))
                })
                .collect()
        }
    }
}

/// In one transaction under the shift's row lock: free places go to the batch in order, then the
/// waitlist if the shift keeps one. Holding the lock makes the count of free places exact, and
/// puts batches of every instance and cancellations one after another.
async fn admit_batch(
    db: &DatabaseConnection,
    shift_id: Uuid,
    users: &[Uuid],
) -> Result<(Vec<Admission>, Vec<signups::Model>), BatchFailure> {
    let tx = crate::db::begin_write(db).await?;
    let shift = shifts::Entity::find_by_id(shift_id)
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or(BatchFailure::Refused(Refusal::NoShift))?;
    if find(&tx, shift.activity_id).await?.status != OPEN {
        return Err(BatchFailure::Refused(Refusal::Closed));
    }
    // Answers are built from these values, not read back: keep only what the database keeps.
    let now = Utc::now().trunc_subsecs(6);
    if shift.ends_at <= now {
        return Err(BatchFailure::Refused(Refusal::Ended));
    }
    let held: HashMap<Uuid, signups::Model> = signups::Entity::find()
        .filter(signups::Column::ShiftId.eq(shift.id))
        .filter(signups::Column::UserId.is_in(users.iter().copied()))
        .all(&tx)
        .await?
        .into_iter()
        .map(|s| (s.user_id, s))
        .collect();
    let cancelled = SignupStatus::Cancelled.as_str();
    // Signing up again after cancelling: to the back of the line, with a new id.
    let again: Vec<Uuid> = held
        .values()
        .filter(|s| s.status == cancelled)
        .map(|s| s.id)
        .collect();
    if !again.is_empty() {
        signups::Entity::delete_many()
            .filter(signups::Column::Id.is_in(again))
            .exec(&tx)
            .await?;
    }

    let places = Ord::max(shift.capacity - shift.taken, 0);
    let mut free = places;
    let mut fresh: Vec<signups::Model> = Vec::new();
    let mut made: HashMap<Uuid, usize> = HashMap::new();
    let mut admissions = Vec::with_capacity(users.len());
    for &user in users {
        if let Some(h) = held.get(&user).filter(|h| h.status != cancelled) {
            admissions.push(Admission::Held(h.clone()));
            continue;
        }
        if let Some(&i) = made.get(&user) {
            admissions.push(Admission::Held(fresh[i].clone()));
            continue;
        }
        let status = if free > 0 {
            free -= 1;
            SignupStatus::Confirmed
        } else if shift.waitlist {
            SignupStatus::Waitlisted
        } else {
            admissions.push(Admission::Full);
            continue;
        };
        made.insert(user, fresh.len());
        admissions.push(Admission::Made(fresh.len()));
        fresh.push(signups::Model {
            id: Uuid::now_v7(),
            shift_id: shift.id,
            activity_id: shift.activity_id,
            user_id: user,
            status: status.as_str().to_owned(),
            attended_at: None,
            minutes: None,
            attendance_by: None,
            created_at: now,
            updated_at: now,
        });
    }
    for chunk in fresh.chunks(INSERT_CHUNK) {
        let written = signups::Entity::insert_many(chunk.iter().map(|s| signups::ActiveModel {
            id: Set(s.id),
            shift_id: Set(s.shift_id),
            activity_id: Set(s.activity_id),
            user_id: Set(s.user_id),
            status: Set(s.status.clone()),
            attended_at: Set(None),
            minutes: Set(None),
            attendance_by: Set(None),
            created_at: Set(s.created_at),
            updated_at: Set(s.updated_at),
        }))
        .exec_without_returning(&tx)
        .await?;
        if written != chunk.len() as u64 {
            return Err(BatchFailure::Failed(ApiError::Unavailable(format!(
                "wrote {written} of {} signups",
                chunk.len()
            ))));
        }
    }
    let confirmed = places - free;
    if confirmed > 0 {
        let done = shifts::Entity::update_many()
            .col_expr(
                shifts::Column::Taken,
                Expr::col(shifts::Column::Taken).add(confirmed),
            )
            .filter(shifts::Column::Id.eq(shift.id))
            .filter(
                Expr::col(shifts::Column::Taken)
                    .add(confirmed)
                    .lte(Expr::col(shifts::Column::Capacity)),
            )
            .exec(&tx)
            .await?;
        if done.rows_affected != 1 {
            return Err(BatchFailure::Failed(ApiError::Unavailable(
                "the shift's places changed under its lock".into(),
            )));
        }
    }
    tx.commit().await?;
    Ok((admissions, fresh))
}

/// Signs a person up for a shift: a place if one is free, else a place in line if the shift
/// keeps a waitlist, else a refusal. Signing up again answers with the signup already held
/// (`false`: nothing new was made).
pub async fn sign_up(
    db: &DatabaseConnection,
    desk: &SignupDesk,
    index: &LocateIndex,
    user: Uuid,
    shift_id: Uuid,
) -> ApiResult<(SignupView, bool)> {
    let read = desk.shift(db, shift_id).await?;
    let (shift, activity, _) = &*read;
    // Checked again under the lock; here so that a refusal costs no queueing.
    if activity.status != OPEN {
        return Err(Refusal::Closed.error());
    }
    if shift.ends_at <= Utc::now() {
        return Err(Refusal::Ended.error());
    }
    check_eligible(db, index, activity, user).await?;
    desk.batches
        .submit(shift.id, user)
        .await
        .map_err(|e| ApiError::Unavailable(format!("{e}; the signup may or may not be saved")))?
}

pub(super) async fn find_signup(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<signups::Model> {
    signups::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("signup"))
}

/// Cancels a signup: the person's own, or any for coordinators. A confirmed place goes to the
/// first in line. Cancelling again answers with the cancelled signup.
pub async fn cancel(
    db: &DatabaseConnection,
    live: &Live,
    who: &CurrentUser,
    id: Uuid,
) -> ApiResult<SignupView> {
    for _ in 0..5 {
        let s = find_signup(db, id).await?;
        if s.user_id != who.id && !Coordinators::admits(&who.roles) {
            return Err(ApiError::NotFound("signup"));
        }
        let from = SignupStatus::parse(&s.status)?;
        if from == SignupStatus::Cancelled {
            return Ok(SignupView::of(s)?);
        }
        if s.attended_at.is_some() {
            return Err(ApiError::Conflict {
                field: None,
                detail: "this signup was attended and can no longer be cancelled".into(),
            });
        }
        let tx = crate::db::begin_write(db).await?;
        if !set_status(&tx, id, from, SignupStatus::Cancelled).await? {
            // Promoted or cancelled meanwhile: look again.
            continue;
        }
        if from == SignupStatus::Confirmed {
            // Under the shift's lock, so a batch of signups that waitlisted people meanwhile is
            // either seen here or sees the freed place.
            let shift = shifts::Entity::find_by_id(s.shift_id)
                .lock_exclusive()
                .one(&tx)
                .await?
                .ok_or(ApiError::NotFound("shift"))?;
            if promote_next(&tx, &shift).await?.is_none() {
                free_place(&tx, shift.id).await?;
            }
        }
        tx.commit().await?;
        live.poke();
        return Ok(SignupView::of(find_signup(db, id).await?)?);
    }
    Err(ApiError::Unavailable(
        "the signup kept changing under this request; try again".into(),
    ))
}

/// The person's signups, newest first.
pub async fn mine(
    db: &impl ConnectionTrait,
    user: Uuid,
    page: PageRequest,
) -> ApiResult<Page<SignupView>> {
    let mut q = signups::Entity::find()
        .filter(signups::Column::UserId.eq(user))
        .order_by_desc(signups::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(signups::Column::Id.lt(after));
    }
    Ok(
        Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |s| s.id)
            .try_map(SignupView::of)?,
    )
}

/// A shift's signups in order (the waitlist in line order), for coordinators.
pub async fn roster(
    db: &impl ConnectionTrait,
    shift: Uuid,
    status: Option<SignupStatus>,
    page: PageRequest,
) -> ApiResult<Page<SignupView>> {
    find_shift(db, shift).await?;
    let mut q = signups::Entity::find()
        .filter(signups::Column::ShiftId.eq(shift))
        .order_by_asc(signups::Column::Id);
    if let Some(s) = status {
        q = q.filter(signups::Column::Status.eq(s.as_str()));
    }
    if let Some(after) = page.after {
        q = q.filter(signups::Column::Id.gt(after));
    }
    Ok(
        Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |s| s.id)
            .try_map(SignupView::of)?,
    )
}

#[cfg(test)]
mod tests {
    use sea_orm::PaginatorTrait;

    use super::super::fixture::{Desk, shift};
    use super::super::{ShiftView, get};
    use super::*;
    use crate::community::volunteers::{self, VolunteerSpec};
    use crate::entities::outbox as outbox_rows;
    use crate::testing::TestResult;

    async fn sign(d: &Desk, who: &CurrentUser, shift: Uuid) -> ApiResult<(SignupView, bool)> {
        sign_up(&d.db, &d.desk, &d.index, who.id, shift).await
    }

    async fn places(
        d: &Desk,
        activity: Uuid,
    ) -> Result<ShiftView, Box<dyn std::error::Error + Send + Sync>> {
        Ok(get(&d.db, activity)
            .await?
            .shifts
            .pop()
            .ok_or("the activity has its shift")?)
    }

    /// An activity whose one shift starts in an hour with `capacity` places, and `n` people
    /// signed up for it in turn, with what each was given.
    async fn queue(
        d: &Desk,
        capacity: i32,
        waitlist: bool,
        n: usize,
    ) -> Result<
        (Uuid, Uuid, Vec<(CurrentUser, SignupView)>),
        Box<dyn std::error::Error + Send + Sync>,
    > {
        let a = d
            .activity(0, vec![shift(60, 120, capacity, waitlist)])
            .await?;
        let s = Desk::first_shift(&a)?;
        let mut signed = Vec::new();
        for _ in 0..n {
            let p = d.person().await?;
            let (view, created) = sign(d, &p, s).await?;
            assert!(created, "a new signup");
            signed.push((p, view));
        }
        Ok((a.id, s, signed))
    }

    async fn status_of(d: &Desk, id: Uuid) -> ApiResult<SignupStatus> {
        Ok(SignupView::of(find_signup(&d.db, id).await?)?.status)
    }

    #[tokio::test]
    async fn places_are_confirmed_up_to_capacity_and_the_rest_wait_in_line() -> TestResult {
        let d = Desk::new().await?;
        let (a, _, signed) = queue(&d, 2, true, 3).await?;
        let got: Vec<SignupStatus> = signed.iter().map(|(_, v)| v.status).collect();
        assert_eq!(
            got,
            [
                SignupStatus::Confirmed,
                SignupStatus::Confirmed,
                SignupStatus::Waitlisted
            ]
        );
        let shown = places(&d, a).await?;
        assert_eq!((shown.taken, shown.waitlisted), (2, 1));
        Ok(())
    }

    #[tokio::test]
    async fn a_full_shift_without_a_waitlist_refuses_and_writes_nothing() -> TestResult {
        let d = Desk::new().await?;
        let (a, s, _) = queue(&d, 1, false, 1).await?;
        let late = d.person().await?;
        let refused = sign(&d, &late, s).await;
        assert!(
            matches!(&refused, Err(ApiError::Conflict { detail, .. }) if detail.contains("full")),
            "{refused:?}"
        );
        assert!(existing(&d.db, s, late.id).await?.is_none());
        assert_eq!(places(&d, a).await?.taken, 1);
        Ok(())
    }

    #[tokio::test]
    async fn signing_up_again_answers_with_the_signup_already_held() -> TestResult {
        let d = Desk::new().await?;
        let (a, s, signed) = queue(&d, 3, true, 1).await?;
        let (p, first) = &signed[0];
        let (again, created_again) = sign(&d, p, s).await?;
        assert!(!created_again);
        assert_eq!(again.id, first.id);
        assert_eq!(again.status, SignupStatus::Confirmed);
        assert_eq!(places(&d, a).await?.taken, 1, "one place, not two");
        Ok(())
    }

    #[tokio::test]
    async fn a_cancelled_confirmed_place_goes_to_the_first_in_line() -> TestResult {
        let d = Desk::new().await?;
        let (a, _, signed) = queue(&d, 1, true, 3).await?;
        let [(holder, held), (second, waits), (_, waits_too)] = &signed[..] else {
            return Err("three signups".into());
        };
        assert_eq!(waits.status, SignupStatus::Waitlisted);

        let cancelled = cancel(&d.db, &d.live, holder, held.id).await?;
        assert_eq!(cancelled.status, SignupStatus::Cancelled);
        assert_eq!(status_of(&d, waits.id).await?, SignupStatus::Confirmed);
        assert_eq!(status_of(&d, waits_too.id).await?, SignupStatus::Waitlisted);
        let shown = places(&d, a).await?;
        assert_eq!((shown.taken, shown.waitlisted), (1, 1));
        let told = outbox_rows::Entity::find()
            .filter(outbox_rows::Column::Kind.eq("signup.promoted"))
            .filter(outbox_rows::Column::UserId.eq(second.id))
            .count(&d.db)
            .await?;
        assert_eq!(told, 1, "the promoted person is told live");
        Ok(())
    }

    #[tokio::test]
    async fn a_cancelled_place_in_line_promotes_nobody() -> TestResult {
        let d = Desk::new().await?;
        let (a, _, signed) = queue(&d, 1, true, 3).await?;
        let [(_, held), (second, waits), (_, waits_too)] = &signed[..] else {
            return Err("three signups".into());
        };

        cancel(&d.db, &d.live, second, waits.id).await?;
        assert_eq!(status_of(&d, held.id).await?, SignupStatus::Confirmed);
        assert_eq!(status_of(&d, waits_too.id).await?, SignupStatus::Waitlisted);
        let shown = places(&d, a).await?;
        assert_eq!((shown.taken, shown.waitlisted), (1, 1));
        Ok(())
    }

    #[tokio::test]
    async fn a_cancelled_place_with_nobody_in_line_is_free_again() -> TestResult {
        let d = Desk::new().await?;
        let (a, s, signed) = queue(&d, 1, false, 1).await?;
        let (holder, held) = &signed[0];
        cancel(&d.db, &d.live, holder, held.id).await?;
        assert_eq!(places(&d, a).await?.taken, 0);
        let (next, _) = sign(&d, &d.person().await?, s).await?;
        assert_eq!(next.status, SignupStatus::Confirmed);
        Ok(())
    }

    #[tokio::test]
    async fn after_cancelling_one_signs_up_again_at_the_back_of_the_line() -> TestResult {
        let d = Desk::new().await?;
        let (_, s, signed) = queue(&d, 1, true, 2).await?;
        let [(first, held), (_, waits)] = &signed[..] else {
            return Err("two signups".into());
        };
        cancel(&d.db, &d.live, first, held.id).await?;
        assert_eq!(status_of(&d, waits.id).await?, SignupStatus::Confirmed);

        let (back, created) = sign(&d, first, s).await?;
        assert!(created, "a new signup, not the cancelled one returned");
        assert_ne!(back.id, held.id);
        assert_eq!(back.status, SignupStatus::Waitlisted);
        assert!(
            find_signup(&d.db, held.id).await.is_err(),
            "the cancelled row is gone"
        );
        Ok(())
    }

    #[tokio::test]
    async fn only_the_person_or_a_coordinator_cancels_and_cancelling_again_changes_nothing()
    -> TestResult {
        let d = Desk::new().await?;
        let (a, _, signed) = queue(&d, 2, false, 1).await?;
        let (holder, held) = &signed[0];
        let stranger = d.person().await?;
        let refused = cancel(&d.db, &d.live, &stranger, held.id).await;
        assert!(
            matches!(refused, Err(ApiError::NotFound("signup"))),
            "{refused:?}"
        );
        assert_eq!(status_of(&d, held.id).await?, SignupStatus::Confirmed);

        let done = cancel(&d.db, &d.live, &d.coordinator, held.id).await?;
        assert_eq!(done.status, SignupStatus::Cancelled);
        let again = cancel(&d.db, &d.live, holder, held.id).await?;
        assert_eq!(
            (again.status, again.updated_at),
            (done.status, done.updated_at)
        );
        assert_eq!(places(&d, a).await?.taken, 0, "freed once");
        Ok(())
    }

    #[tokio::test]
    async fn an_ended_shift_takes_no_signup() -> TestResult {
        let d = Desk::new().await?;
        let a = d.activity(0, vec![shift(-120, 60, 5, true)]).await?;
        let refused = sign(&d, &d.person().await?, Desk::first_shift(&a)?).await;
        assert!(
            matches!(&refused, Err(ApiError::Conflict { detail, .. }) if detail.contains("ended")),
            "{refused:?}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_limited_activity_takes_only_volunteers_meeting_every_limit() -> TestResult {
        let d = Desk::new().await?;
        let a = d
            .limited(
                0,
                Some("S-C1"),
                Some("first_aid"),
                vec![shift(60, 120, 5, true)],
            )
            .await?;
        let s = Desk::first_shift(&a)?;
        let register = |who: Uuid, area: &str, skill: &str| {
            let spec = VolunteerSpec {
                skills: [skill.to_owned()].into(),
                areas: vec![area.to_owned()],
                bio: None,
            };
            let db = d.db.clone();
            async move { volunteers::register(&db, who, spec).await }
        };
        let not_eligible =
            |r: &ApiResult<(SignupView, bool)>| matches!(r, Err(ApiError::NotEligible(_)));

        let stranger = d.person().await?;
        assert!(
            not_eligible(&sign(&d, &stranger, s).await),
            "not a volunteer"
        );
        let elsewhere = d.person().await?;
        register(elsewhere.id, "S-G3", "first_aid").await?;
        assert!(
            not_eligible(&sign(&d, &elsewhere, s).await),
            "serves another community"
        );
        let unskilled = d.person().await?;
        register(unskilled.id, "S-G1", "cooking").await?;
        assert!(
            not_eligible(&sign(&d, &unskilled, s).await),
            "lacks the skill"
        );
        assert_eq!(places(&d, a.id).await?.taken, 0);

        let fits = d.person().await?;
        register(fits.id, "S-G1", "first_aid").await?;
        let (view, _) = sign(&d, &fits, s).await?;
        assert_eq!(
            view.status,
            SignupStatus::Confirmed,
            "a grid below the activity's area"
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_roster_lists_a_shift_in_line_order() -> TestResult {
        let d = Desk::new().await?;
        let (_, s, signed) = queue(&d, 1, true, 3).await?;
        let ids: Vec<Uuid> = signed.iter().map(|(_, v)| v.id).collect();
        let page = PageRequest {
            after: None,
            limit: 10,
        };
        let all: Vec<Uuid> = roster(&d.db, s, None, page)
            .await?
            .items
            .iter()
            .map(|v| v.id)
            .collect();
        assert_eq!(all, ids);
        let line: Vec<Uuid> = roster(&d.db, s, Some(SignupStatus::Waitlisted), page)
            .await?
            .items
            .iter()
            .map(|v| v.id)
            .collect();
        assert_eq!(line, ids[1..]);
        Ok(())
    }
}
