//! Authentication and authorization: who is calling, and whether their role admits the route.
//!
//! Routes declare the roles they admit in their signature (`Auth<AdminOnly>`); the extractor in
//! [`principal`] is the one place that turns a request into a caller and checks that declaration.

pub mod api_keys;
pub mod jwt;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod roles;
pub mod sessions;
pub mod tokens;
pub mod user;

pub use principal::{Auth, Principal};
pub use roles::{Role, RoleSet};
pub use user::CurrentUser;
