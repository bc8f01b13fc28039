//! Community work beside the event loop: the volunteer registry and teams, activities with
//! shifts and waitlists, attendance, call-outs, patrols (巡防), rewards (积分兑换) and garbage
//! sorting (垃圾分类). Each module holds its rules and queries; routes stay thin.

pub mod activities;
pub mod callouts;
pub mod patrols;
pub mod rewards;
pub mod service_hours;
pub mod sorting;
pub mod volunteers;
