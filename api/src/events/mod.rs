//! The event loop: events from every source, routed to a grid or team as tasks, moved through
//! the closed loop, watched against their deadlines.

pub mod access;
pub mod catalogue;
pub mod escalations;
pub mod flow;
pub mod intake;
pub mod intake_desk;
pub mod moves;
pub mod notes;
pub mod sweeper;
pub mod tasks;
pub mod timeline;
pub mod views;
