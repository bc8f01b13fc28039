//! Attendance: an activity's code scanned at the venue during one's shift, or a coordinator's
//! word; either credits the minutes once, and the activity's points for them.

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::signups::{SignupStatus, SignupView, existing, find_signup};
use super::{find, find_shift};
use crate::entities::{shifts, signups};
use crate::error::{ApiError, ApiResult};
use crate::places::qr_keys::QrKeys;

/// What an activity's attendance code signs: it can never pass for a building's code.
fn code_of(activity: Uuid) -> String {
    format!("{ACT_PREFIX}{}", activity.simple())
}

const ACT_PREFIX: &str = crate::places::qr_keys::NON_BUILDING_PREFIXES[1];

/// The payload to print for an activity's attendance (scanned at the venue).
pub async fn attendance_code(
    db: &impl ConnectionTrait,
    qr: &QrKeys,
    activity: Uuid,
) -> ApiResult<String> {
    find(db, activity).await?;
    Ok(qr.sign(&code_of(activity)))
}

/// How early before a shift starts a scan counts as attendance.
const EARLY_SCAN: Duration = Duration::minutes(30);

/// Credits attendance once: the minutes, and the activity's points for them.
async fn credit(
    db: &DatabaseConnection,
    s: signups::Model,
    minutes: i32,
    by: &'static str,
) -> ApiResult<SignupView> {
    if s.attended_at.is_some() {
        return Ok(SignupView::of(s)?);
    }
    let activity = find(db, s.activity_id).await?;
    let tx = crate::db::begin_write(db).await?;
    let done = signups::Entity::update_many()
        .col_expr(signups::Column::AttendedAt, Expr::value(Utc::now()))
        .col_expr(signups::Column::Minutes, Expr::value(minutes))
        .col_expr(signups::Column::AttendanceBy, Expr::value(by))
        .col_expr(signups::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(signups::Column::Id.eq(s.id))
        .filter(signups::Column::AttendedAt.is_null())
        .filter(signups::Column::Status.eq(SignupStatus::Confirmed.as_str()))
        .exec(&tx)
        .await?;
    if done.rows_affected == 1 {
        let points = activity.points_per_hour * minutes / 60;
        if points > 0 {
            let street = crate::points::street_of(&tx, activity.area_code.as_deref()).await?;
            crate::points::earn(
                &tx,
                crate::points::Earning {
                    user: s.user_id,
                    source_kind: "volunteer",
                    source_id: &format!("signup:{}", s.id),
                    amount: points,
                    note: Some(&format!("志愿服务 {minutes} 分钟：{}", activity.title)),
                    street: street.as_deref(),
                },
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(SignupView::of(find_signup(db, s.id).await?)?)
}

fn shift_minutes(shift: &shifts::Model) -> i32 {
    (shift.ends_at - shift.starts_at)
        .num_minutes()
        .clamp(0, i32::MAX as i64) as i32
}

/// Attendance by scanning the activity's code at the venue, during the person's shift (or up to
/// half an hour before it starts): the whole shift is credited. Scanning again changes nothing.
pub async fn attend_by_scan(
    db: &DatabaseConnection,
    qr: &QrKeys,
    user: Uuid,
    scanned: &str,
) -> ApiResult<SignupView> {
    let code = match qr.verify(db, scanned).await? {
        Ok(code) => code,
        Err(e) => return Err(ApiError::InvalidCode(e.to_string())),
    };
    let activity = code
        .strip_prefix(ACT_PREFIX)
        .and_then(|hex| Uuid::try_parse(hex).ok())
        .ok_or_else(|| ApiError::InvalidCode("this is not an activity's attendance code".into()))?;
    let mine: Vec<signups::Model> = signups::Entity::find()
        .filter(signups::Column::ActivityId.eq(activity))
        .filter(signups::Column::UserId.eq(user))
        .filter(signups::Column::Status.eq(SignupStatus::Confirmed.as_str()))
        .all(db)
        .await?;
    if mine.is_empty() {
        return Err(ApiError::NotEligible(
            "you hold no confirmed place in this activity".into(),
        ));
    }
    let now = Utc::now();
    for s in mine {
        let shift = find_shift(db, s.shift_id).await?;
        if shift.starts_at - EARLY_SCAN <= now && now <= shift.ends_at {
            let minutes = shift_minutes(&shift);
            return credit(db, s, minutes, "scan").await;
        }
    }
    Err(ApiError::invalid(
        "code",
        "outside_shift",
        "none of your shifts of this activity is running now",
    ))
}

/// Attendance taken by a coordinator: the minutes served (the whole shift when not given).
pub async fn attend_by_coordinator(
    db: &DatabaseConnection,
    shift_id: Uuid,
    user: Uuid,
    minutes: Option<i32>,
) -> ApiResult<SignupView> {
    let shift = find_shift(db, shift_id).await?;
    let whole = shift_minutes(&shift);
    let minutes = minutes.unwrap_or(whole);
    if !(1..=Ord::max(whole, 1)).contains(&minutes) {
        return Err(ApiError::invalid(
            "minutes",
            "range",
            format!("between 1 and the shift's {whole} minutes"),
        ));
    }
    let s = existing(db, shift.id, user)
        .await?
        .filter(|s| s.status == SignupStatus::Confirmed.as_str())
        .ok_or_else(|| {
            ApiError::invalid(
                "user_id",
                "no_place",
                "this person holds no confirmed place in this shift",
            )
        })?;
    credit(db, s, minutes, "coordinator").await
}

#[cfg(test)]
mod tests {
    use sea_orm::PaginatorTrait;

    use super::super::fixture::{Desk, shift};
    use super::super::signups::{cancel, sign_up};
    use super::*;
    use crate::entities::points_ledger;
    use crate::testing::TestResult;

    /// Signs `who` up for the activity's first shift; the signup's id.
    async fn place(d: &Desk, who: Uuid, shift: Uuid) -> ApiResult<SignupView> {
        Ok(sign_up(&d.db, &d.desk, &d.index, who, shift).await?.0)
    }

    /// Fails the test unless `got` is a refusal that `is` recognises.
    fn refused(got: ApiResult<SignupView>, is: impl Fn(&ApiError) -> bool) {
        match got {
            Err(e) if is(&e) => {}
            other => panic!("not the refusal expected: {other:?}"),
        }
    }

    async fn balance(d: &Desk, who: Uuid) -> ApiResult<i64> {
        crate::points::balance(&d.db, who).await
    }

    #[test]
    fn a_shift_is_worth_its_length_in_minutes() {
        let s = |starts_in, minutes| {
            let spec = shift(starts_in, minutes, 1, false);
            shifts::Model {
                id: Uuid::now_v7(),
                activity_id: Uuid::now_v7(),
                starts_at: spec.starts_at,
                ends_at: spec.ends_at,
                capacity: 1,
                waitlist: false,
                taken: 0,
                created_at: spec.starts_at,
            }
        };
        assert_eq!(shift_minutes(&s(0, 90)), 90);
        assert_eq!(shift_minutes(&s(30, 150)), 150);
        assert_eq!(
            shift_minutes(&s(0, -30)),
            0,
            "a shift ending before it starts is worth none"
        );
    }

    #[tokio::test]
    async fn a_scan_during_the_shift_credits_the_whole_shift_once() -> TestResult {
        let d = Desk::new().await?;
        let a = d.activity(60, vec![shift(-10, 90, 5, false)]).await?;
        let p = d.person().await?;
        let held = place(&d, p.id, Desk::first_shift(&a)?).await?;
        let code = attendance_code(&d.db, &d.qr, a.id).await?;

        let attended = attend_by_scan(&d.db, &d.qr, p.id, &code).await?;
        assert_eq!(attended.id, held.id);
        assert_eq!(attended.minutes, Some(90));
        assert_eq!(attended.attendance_by.as_deref(), Some("scan"));
        assert_eq!(
            balance(&d, p.id).await?,
            90,
            "60 points an hour for 90 minutes"
        );

        let again = attend_by_scan(&d.db, &d.qr, p.id, &code).await?;
        assert_eq!(
            again.attended_at, attended.attended_at,
            "scanning again changes nothing"
        );
        assert_eq!(balance(&d, p.id).await?, 90, "paid once");
        let rows = points_ledger::Entity::find()
            .filter(points_ledger::Column::UserId.eq(p.id))
            .count(&d.db)
            .await?;
        assert_eq!(rows, 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_scan_counts_from_half_an_hour_before_the_shift_and_not_earlier() -> TestResult {
        let d = Desk::new().await?;
        let soon = d.activity(0, vec![shift(20, 60, 5, false)]).await?;
        let later = d.activity(0, vec![shift(45, 60, 5, false)]).await?;
        let p = d.person().await?;
        place(&d, p.id, Desk::first_shift(&soon)?).await?;
        place(&d, p.id, Desk::first_shift(&later)?).await?;

        let early = attendance_code(&d.db, &d.qr, soon.id).await?;
        assert_eq!(
            attend_by_scan(&d.db, &d.qr, p.id, &early).await?.minutes,
            Some(60)
        );
        let too_early = attendance_code(&d.db, &d.qr, later.id).await?;
        refused(
            attend_by_scan(&d.db, &d.qr, p.id, &too_early).await,
            |e| matches!(e, ApiError::Validation(f) if f[0].rule == "outside_shift"),
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_scan_of_another_activitys_code_or_of_no_activitys_code_is_refused() -> TestResult {
        let d = Desk::new().await?;
        let mine = d.activity(60, vec![shift(-10, 60, 5, false)]).await?;
        let other = d.activity(60, vec![shift(-10, 60, 5, false)]).await?;
        let p = d.person().await?;
        place(&d, p.id, Desk::first_shift(&mine)?).await?;

        let theirs = attendance_code(&d.db, &d.qr, other.id).await?;
        refused(attend_by_scan(&d.db, &d.qr, p.id, &theirs).await, |e| {
            matches!(e, ApiError::NotEligible(_))
        });
        let building = d.qr.sign("S-G1-B001");
        refused(attend_by_scan(&d.db, &d.qr, p.id, &building).await, |e| {
            matches!(e, ApiError::InvalidCode(_))
        });
        let mut forged = attendance_code(&d.db, &d.qr, mine.id).await?;
        forged.push('0');
        refused(attend_by_scan(&d.db, &d.qr, p.id, &forged).await, |e| {
            matches!(e, ApiError::InvalidCode(_))
        });
        assert_eq!(balance(&d, p.id).await?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn without_a_confirmed_place_nobody_attends() -> TestResult {
        let d = Desk::new().await?;
        let a = d.activity(60, vec![shift(-10, 60, 1, true)]).await?;
        let s = Desk::first_shift(&a)?;
        let code = attendance_code(&d.db, &d.qr, a.id).await?;
        place(&d, d.person().await?.id, s).await?;
        let waiting = d.person().await?;
        let queued = place(&d, waiting.id, s).await?;
        assert_eq!(queued.status, SignupStatus::Waitlisted);

        refused(attend_by_scan(&d.db, &d.qr, waiting.id, &code).await, |e| {
            matches!(e, ApiError::NotEligible(_))
        });
        refused(
            attend_by_coordinator(&d.db, s, waiting.id, None).await,
            |e| matches!(e, ApiError::Validation(f) if f[0].rule == "no_place"),
        );
        let stranger = d.person().await?;
        refused(
            attend_by_scan(&d.db, &d.qr, stranger.id, &code).await,
            |e| matches!(e, ApiError::NotEligible(_)),
        );
        assert_eq!(balance(&d, waiting.id).await?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn a_coordinator_credits_the_minutes_served_within_the_shift() -> TestResult {
        let d = Desk::new().await?;
        let a = d.activity(60, vec![shift(-240, 120, 5, false)]).await?;
        let s = Desk::first_shift(&a)?;
        // The shift has ended, so the signups are written as the desk would have.
        let (part, whole) = (d.person().await?, d.person().await?);
        for who in [part.id, whole.id] {
            admit_as_confirmed(&d, s, a.id, who).await?;
        }

        for minutes in [0, 121] {
            refused(
                attend_by_coordinator(&d.db, s, part.id, Some(minutes)).await,
                |e| matches!(e, ApiError::Validation(f) if f[0].field == "minutes"),
            );
        }
        let credited = attend_by_coordinator(&d.db, s, part.id, Some(45)).await?;
        assert_eq!(credited.minutes, Some(45));
        assert_eq!(credited.attendance_by.as_deref(), Some("coordinator"));
        assert_eq!(balance(&d, part.id).await?, 45);
        let credited = attend_by_coordinator(&d.db, s, whole.id, None).await?;
        assert_eq!(
            credited.minutes,
            Some(120),
            "the whole shift when not given"
        );
        assert_eq!(balance(&d, whole.id).await?, 120);

        refused(
            cancel(&d.db, &d.live, &d.coordinator, credited.id).await,
            |e| matches!(e, ApiError::Conflict { .. }),
        );
        Ok(())
    }

    /// A confirmed signup written directly, for a shift the desk would no longer take.
    async fn admit_as_confirmed(d: &Desk, shift: Uuid, activity: Uuid, user: Uuid) -> TestResult {
        use sea_orm::{ActiveModelTrait, Set};
        let now = Utc::now();
        signups::ActiveModel {
            id: Set(Uuid::now_v7()),
            shift_id: Set(shift),
            activity_id: Set(activity),
            user_id: Set(user),
            status: Set(SignupStatus::Confirmed.as_str().to_owned()),
            attended_at: Set(None),
            minutes: Set(None),
            attendance_by: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&d.db)
        .await?;
        Ok(())
    }
}
