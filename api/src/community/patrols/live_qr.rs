//! Rotating checkpoint codes, for a screen at a high-value checkpoint: the payload is signed
//! with the building-code keys (`places::qr_keys`) over `cpt.<time step>.<checkpoint code>`, so
//! it changes every [`STEP_SECS`] seconds. A scan is current for the step it was shown in and the
//! one before (a phone's scan and upload take a few seconds), so a photograph sent home stops
//! paying within a minute. Printed plates keep their fixed `cp.<code>` payload, which pays only
//! at low-value checkpoints (`plausibility`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::places::qr_keys::{NON_BUILDING_PREFIXES, QrKeys};

/// Seconds a rotating payload is shown for.
pub const STEP_SECS: i64 = 30;
/// What a rotating checkpoint code is prefixed with before signing.
pub const PREFIX: &str = NON_BUILDING_PREFIXES[2];

/// The time step `at` falls in.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS)
}

/// The signed text for a checkpoint in one step.
pub fn signed_code(checkpoint: &str, step: i64) -> String {
    format!("{PREFIX}{step}.{checkpoint}")
}

/// A verified code's rotating parts: the checkpoint's code and the step, when the code was a
/// rotating one.
pub fn parse(signed: &str) -> Option<(&str, i64)> {
    let rest = signed.strip_prefix(PREFIX)?;
    let (step, code) = rest.split_once('.')?;
    Some((code, step.parse().ok()?))
}

/// Whether a step is current at `now`: this step or the one before.
pub fn is_current(step: i64, now: DateTime<Utc>) -> bool {
    let this = step_of(now);
    step == this || step == this - 1
}

/// What a checkpoint's screen shows now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveCode {
    /// Render it as a QR code.
    pub payload: String,
    /// Show a new one from this moment.
    pub refresh_at: DateTime<Utc>,
    /// A scan of it pays until this moment.
    pub valid_until: DateTime<Utc>,
}

/// The payload a checkpoint's screen shows at `now`.
pub fn live_code(keys: &QrKeys, checkpoint: &str, now: DateTime<Utc>) -> LiveCode {
    let step = step_of(now);
    let at = |s: i64| DateTime::from_timestamp(s * STEP_SECS, 0).unwrap_or(now);
    LiveCode {
        payload: keys.sign(&signed_code(checkpoint, step)),
        refresh_at: at(step + 1),
        valid_until: at(step + 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_step_is_current_for_itself_and_the_next_step_only() {
        let now = DateTime::from_timestamp(1_764_900_000, 0).unwrap_or_default();
        let step = step_of(now);
        assert!(is_current(step, now));
        assert!(is_current(step, now + Duration::seconds(STEP_SECS)));
        assert!(!is_current(step, now + Duration::seconds(2 * STEP_SECS)));
        assert!(!is_current(step + 1, now), "a future step is not shown yet");
        let signed = signed_code("QSH-P01-1", step);
        assert_eq!(parse(&signed), Some(("QSH-P01-1", step)));
        assert_eq!(parse("cp.QSH-P01-1"), None);
    }
}
