//! sea-orm entities: one module per table, mirroring the migrations crate.

pub mod api_keys;
pub mod areas;
pub mod building_units;
pub mod building_visits;
pub mod buildings;
pub mod businesses;
pub mod categories;
pub mod deadline_policies;
pub mod email_outbox;
pub mod event_photos;
pub mod events;
pub mod outbox;
pub mod photos;
pub mod points_ledger;
pub mod refresh_tokens;
pub mod residents;
pub mod server_secrets;
pub mod sessions;
pub mod tasks;
pub mod team_areas;
pub mod team_categories;
pub mod teams;
pub mod timeline;
pub mod user_areas;
pub mod user_roles;
pub mod users;
