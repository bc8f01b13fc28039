//! The community side: the volunteer registry and teams, activities with shifts and waitlists,
//! attendance, and call-outs. Patrols, rewards and garbage-sorting accounts live beside them.

pub mod activities;
pub mod callouts;
pub mod volunteers;
