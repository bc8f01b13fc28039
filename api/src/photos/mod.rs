//! Photos of reports and feedback: uploading (checked by content, decoded off the request
//! threads under limits, turned upright, stripped of every piece of metadata by re-encoding),
//! storing under the content hash, and serving only to those who may see them.
//!
//! The event code attaches photos to events by hash (`event_photos`); it checks a report's photos
//! with [`exists_for`] and this module asks it, through `may_see_event`, who may see an event.

pub mod process;
pub mod store;

pub use self::store::{Variant, exists_for, is_sha256, may_see};
