//! sea-orm entities: one module per table, mirroring the migrations crate.

pub mod api_keys;
pub mod refresh_tokens;
pub mod server_secrets;
pub mod sessions;
pub mod user_areas;
pub mod user_roles;
pub mod users;
