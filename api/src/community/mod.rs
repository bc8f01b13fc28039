//! Community work beside the event loop: volunteers, patrols, activities, rewards (积分兑换) and
//! garbage sorting (垃圾分类). Each module holds its rules and queries; routes stay thin.

pub mod rewards;
pub mod sorting;
