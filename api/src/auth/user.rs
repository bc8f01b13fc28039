//! The signed-in user as every part of the server sees them: a plain value, apart from the
//! extractor that makes it, so code that only asks "who is this and what may they do" does not
//! depend on the server's state.

use uuid::Uuid;

use super::roles::Role;

/// A signed-in user, from a verified access token of a live session.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub session: Uuid,
    pub roles: Vec<Role>,
}

impl CurrentUser {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}
