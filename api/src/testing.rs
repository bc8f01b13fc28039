//! What the unit tests of several modules build alike: a small area tree, a signed-in user with
//! roles, an area a user serves.

use places::locate::{LocateIndex, Node};
use places::tree::Level;
use uuid::Uuid;

use crate::accounts::{AreaKind, AreaRef};
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;

/// Street S with communities S-C1 (grids S-G1, with micro-grids S-G1-M1 and S-G1-M2, and S-G2)
/// and S-C2 (grid S-G3).
pub fn tree() -> LocateIndex {
    let node = |code: &str, level, parent: Option<&str>| {
        (
            Node {
                code: code.to_owned(),
                name: code.to_owned(),
                level,
                parent: parent.map(str::to_owned),
            },
            None,
        )
    };
    LocateIndex::build(vec![
        node("S", Level::Street, None),
        node("S-C1", Level::Community, Some("S")),
        node("S-C2", Level::Community, Some("S")),
        node("S-G1", Level::Grid, Some("S-C1")),
        node("S-G1-M1", Level::MicroGrid, Some("S-G1")),
        node("S-G1-M2", Level::MicroGrid, Some("S-G1")),
        node("S-G2", Level::Grid, Some("S-C1")),
        node("S-G3", Level::Grid, Some("S-C2")),
    ])
}

pub fn user(roles: &[Role]) -> CurrentUser {
    CurrentUser {
        id: Uuid::now_v7(),
        session: Uuid::now_v7(),
        roles: roles.to_vec(),
    }
}

pub fn area(kind: AreaKind, code: &str) -> AreaRef {
    AreaRef {
        kind,
        code: code.to_owned(),
    }
}
