//! Patrols (巡防): coordinators define routes of checkpoints walked in daily windows; citizens and
//! volunteers check in at each checkpoint by scanning its QR code or by standing inside its
//! geofence, and earn its points once per window occurrence.
//!
//! Rules, in one place each:
//! - Windows are local time (Asia/Shanghai, UTC+8, no DST), `start` inclusive, `end` exclusive.
//!   A window whose end is not after its start crosses midnight (`22:00`–`02:00`); its
//!   occurrence is named after the local date it opened: `2026-12-01#1` for window 1 opened on
//!   1 December, also at 01:30 on the 2nd. Windows of one route may not overlap. A check-in
//!   outside every window counts in `YYYY-MM-DD#out` and is held.
//! - A check-in is recorded once per (user, checkpoint, window occurrence), enforced by a unique
//!   key: a second phone or a replay gets the first check-in back (`replayed: true`), never a
//!   second payment. The caller's idempotency key makes a retry answer the same even after the
//!   window closed.
//! - A location check-in names the checkpoint when `distance − accuracy ≤ radius`; otherwise it
//!   is refused.
//! - Whether a named checkpoint is paid is decided by [`plausibility`] (accuracy, speed, window,
//!   rotating code): what fails is held for a coordinator ([`review`]), not paid and not dropped.
//!   What is paid goes through `points::earn`, under the day's cap.
//! - QR plates carry `cp.<checkpoint-code>` signed with the QR keys: the `cp.` prefix tells them from
//!   building codes, and only coordinators are shown them (a patroller who could read one could
//!   check in from home). Screens at high-value checkpoints show [`live_qr`] codes instead.
//! - Checkpoint coordinates are shown to those who manage routes and to those who walk this one
//!   ([`walks_route`]).
//!
//! The rules live in [`windows`], [`routes`] (and who may see a checkpoint's place),
//! [`checkins`] (and [`status`], what a check-in is kept with), [`walks`], [`plausibility`], [`review`] and [`live_qr`].

pub mod checkins;
pub mod live_qr;
pub mod plausibility;
pub mod review;
pub mod routes;
pub mod status;
pub mod walks;
pub mod windows;

pub use checkins::{
    CheckinMethod, CheckinView, CheckpointRef, HoldView, NewCheckin, POINTS_SOURCE, Proof,
    check_in, finding_point, own_checkin,
};
pub use plausibility::{HoldReason, MAX_ACCURACY_M};
pub use routes::{
    CheckpointBody, CheckpointKind, CheckpointSpec, CheckpointView, QR_PREFIX, RouteBody,
    RouteSpec, RouteSummary, RouteView, Shown, create, find_route, get, list, live_code,
    qr_payload, spec, update, walks_route,
};
pub use status::CheckinStatus;
pub use walks::{Progress, WalkView, walks};
pub use windows::{Window, WindowBody, occurrence, parse_windows};
