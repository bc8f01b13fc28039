//! Whether a check-in is plausible enough to pay: the one place these rules live.
//!
//! A proof that names a checkpoint (a valid code, a position inside the geofence) is not enough:
//! a phone reports whatever position its owner wants, and a code can be photographed. A
//! check-in that fails one of these checks is not paid and not dropped: it is held for a
//! coordinator's review, stored with its [`HoldReason`], and the phone is told so.
//!
//! - Accuracy: a fix coarser than [`MAX_ACCURACY_M`] cannot tell whether the phone is at the
//!   checkpoint.
//! - Speed: between successive check-ins of one walk, nobody on foot or on a bicycle covers
//!   ground faster than [`MAX_SPEED_MPS`]. Distances are taken between the positions each
//!   check-in proves (the reported fix, else the checkpoint's own point), less both accuracies.
//! - Window: the route is walked in its daily windows only.
//! - Code: a checkpoint worth more than its street's `patrol_limits.qr_above_points` pays only for
//!   a rotating code shown on a screen ([`super::live_qr`]) scanned while it is current; a printed
//!   code or a position is held.

use chrono::{DateTime, Utc};
use places::geometry::{Coord, distance_m};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::entities::patrol_limits;
use crate::error::ApiResult;
use crate::street_rules;

/// The worst GPS accuracy, in metres, a location check-in is paid for.
pub const MAX_ACCURACY_M: f64 = 100.0;
/// The fastest a patroller moves between checkpoints, in metres per second (36 km/h: faster
/// than any runner over a patrol's distances, and than a bicycle in a neighbourhood).
pub const MAX_SPEED_MPS: f64 = 10.0;

/// Why a check-in was held instead of paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// The reported accuracy was too coarse.
    #[error("the location fix is too coarse")]
    Inaccurate,
    /// Faster than a person moves since the walk's previous check-in.
    #[error("faster than a person moves since the previous check-in")]
    TooFast,
    /// Outside the route's daily windows.
    #[error("outside the route's time windows")]
    OutsideWindow,
    /// A high-value checkpoint needs its rotating code, shown on a screen at the spot.
    #[error("this checkpoint pays only for its rotating code, scanned on the spot")]
    RotatingCodeRequired,
    /// A rotating code scanned after it had changed: a photograph of the screen.
    #[error("the rotating code had already changed")]
    ExpiredCode,
}

impl HoldReason {
    pub const ALL: [HoldReason; 5] = [
        HoldReason::Inaccurate,
        HoldReason::TooFast,
        HoldReason::OutsideWindow,
        HoldReason::RotatingCodeRequired,
        HoldReason::ExpiredCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::Inaccurate => "inaccurate",
            HoldReason::TooFast => "too_fast",
            HoldReason::OutsideWindow => "outside_window",
            HoldReason::RotatingCodeRequired => "rotating_code_required",
            HoldReason::ExpiredCode => "expired_code",
        }
    }

    /// A stored reason; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, crate::stored::Corrupt> {
        crate::stored::lookup("hold reason", &Self::ALL, Self::as_str, s)
    }
}

/// A failed check: its reason and what the phone and the coordinator are told.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub reason: HoldReason,
    pub detail: String,
}

/// How the caller proved the checkpoint, as far as plausibility cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// A position inside the geofence.
    Location,
    /// A printed code that never changes.
    PrintedCode,
    /// A rotating code within its validity.
    RotatingCode,
    /// A rotating code whose time is past.
    StaleRotatingCode,
}

/// Where and when a check-in happened, as far as it can be placed.
#[derive(Debug, Clone, Copy)]
pub struct Fix {
    pub at: DateTime<Utc>,
    /// WGS84 and its accuracy in metres (0 for a checkpoint's own point).
    pub point: Option<(Coord, f64)>,
}

/// The facts a check-in is judged on.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub evidence: Evidence,
    pub checkpoint_points: i32,
    /// The street's threshold above which a rotating code is required.
    pub qr_above_points: i32,
    pub in_window: bool,
    pub now: Fix,
    /// The walk's previous check-in, if any.
    pub previous: Option<Fix>,
}

/// The first check a check-in fails, or `None` when it may be paid.
pub fn judge(f: &Facts) -> Option<Hold> {
    if !f.in_window {
        return Some(Hold {
            reason: HoldReason::OutsideWindow,
            detail: "不在巡防时段内，已提交协调员审核".to_owned(),
        });
    }
    if f.checkpoint_points > f.qr_above_points {
        match f.evidence {
            Evidence::RotatingCode => {}
            Evidence::StaleRotatingCode => {
                return Some(Hold {
                    reason: HoldReason::ExpiredCode,
                    detail: "二维码已更新，请扫描现场屏幕上的最新二维码；本次已提交协调员审核"
                        .to_owned(),
                });
            }
            Evidence::Location | Evidence::PrintedCode => {
                return Some(Hold {
                    reason: HoldReason::RotatingCodeRequired,
                    detail: format!(
                        "该点位积分高于 {} 分，须扫描现场屏幕上的动态二维码；本次已提交协调员审核",
                        f.qr_above_points
                    ),
                });
            }
        }
    }
    if let (Evidence::Location, Some((_, accuracy))) = (f.evidence, f.now.point)
        && accuracy > MAX_ACCURACY_M
    {
        return Some(Hold {
            reason: HoldReason::Inaccurate,
            detail: format!(
                "定位精度 {accuracy:.0} 米，超过 {MAX_ACCURACY_M:.0} 米，无法确认到达点位；已提交协调员审核"
            ),
        });
    }
    if let (Some(prev), Some((here, acc_here))) = (f.previous, f.now.point)
        && let Some((there, acc_there)) = prev.point
    {
        let metres = (distance_m(here, there)
            - acc_here.min(MAX_ACCURACY_M)
            - acc_there.min(MAX_ACCURACY_M))
        .max(0.0);
        let secs = (f.now.at - prev.at).num_milliseconds().max(0) as f64 / 1000.0;
        if metres > MAX_SPEED_MPS * secs.max(1.0) {
            return Some(Hold {
                reason: HoldReason::TooFast,
                detail: format!(
                    "距上一个点位至少 {metres:.0} 米，仅用时 {secs:.0} 秒，超出步行或骑行速度；已提交协调员审核"
                ),
            });
        }
    }
    None
}

/// The threshold of a street (its own row, else the default; without either, every checkpoint
/// is low-value).
pub async fn qr_above_points(db: &impl ConnectionTrait, street: Option<&str>) -> ApiResult<i32> {
    let streets = street_rules::candidates(street);
    let rows = patrol_limits::Entity::find()
        .filter(patrol_limits::Column::StreetCode.is_in(streets))
        .all(db)
        .await?;
    Ok(
        street_rules::own_or_default(&rows, street, |r| &r.street_code)
            .map_or(i32::MAX, |r| r.qr_above_points),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn facts(evidence: Evidence, points: i32) -> Facts {
        let now = Utc::now();
        Facts {
            evidence,
            checkpoint_points: points,
            qr_above_points: 10,
            in_window: true,
            now: Fix {
                at: now,
                point: Some(([120.0, 30.0], 10.0)),
            },
            previous: None,
        }
    }

    fn reason(f: &Facts) -> Option<HoldReason> {
        judge(f).map(|h| h.reason)
    }

    #[test]
    fn high_value_checkpoints_pay_only_for_a_current_rotating_code() {
        assert_eq!(reason(&facts(Evidence::Location, 10)), None);
        assert_eq!(reason(&facts(Evidence::PrintedCode, 10)), None);
        assert_eq!(
            reason(&facts(Evidence::PrintedCode, 11)),
            Some(HoldReason::RotatingCodeRequired)
        );
        assert_eq!(
            reason(&facts(Evidence::Location, 11)),
            Some(HoldReason::RotatingCodeRequired)
        );
        assert_eq!(
            reason(&facts(Evidence::StaleRotatingCode, 11)),
            Some(HoldReason::ExpiredCode)
        );
        assert_eq!(reason(&facts(Evidence::RotatingCode, 1000)), None);
    }

    #[test]
    fn coarse_fixes_windows_and_speed_are_held() {
        let mut f = facts(Evidence::Location, 1);
        f.now.point = Some(([120.0, 30.0], 101.0));
        assert_eq!(reason(&f), Some(HoldReason::Inaccurate));
        let mut f = facts(Evidence::Location, 1);
        f.in_window = false;
        assert_eq!(reason(&f), Some(HoldReason::OutsideWindow));
        // 1 km north (about 0.009°) in 30 s, with 10 m accuracies: far too fast.
        let mut f = facts(Evidence::Location, 1);
        f.previous = Some(Fix {
            at: f.now.at - Duration::seconds(30),
            point: Some(([120.0, 29.991], 10.0)),
        });
        assert_eq!(reason(&f), Some(HoldReason::TooFast));
        // The same kilometre in 5 minutes is a brisk cycle: paid.
        f.previous = f.previous.map(|p| Fix {
            at: f.now.at - Duration::minutes(5),
            ..p
        });
        assert_eq!(reason(&f), None);
        // Two checkpoints at one spot, back to back: paid.
        f.previous = Some(Fix {
            at: f.now.at,
            point: Some(([120.0, 30.0], 0.0)),
        });
        assert_eq!(reason(&f), None);
    }
}
