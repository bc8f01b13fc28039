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
