//! Community work beside the event loop: volunteers, patrols (巡防), activities, rewards.

pub mod patrols;
