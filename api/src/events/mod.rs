//! The event loop: events from every source, routed to a grid or team as tasks, moved through
//! the closed loop, watched against their deadlines.

pub mod flow;
