//! Roles and the role sets that routes admit.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a user may do. A user may hold several roles (a grid worker who also coordinates
/// volunteers).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 居民: reports problems, follows them, earns points.
    Citizen,
    /// 网格员: handles the tasks of their grids.
    GridWorker,
    /// 执法队员/调解员/微型消防站: handles the tasks of their teams.
    TeamMember,
    /// 指挥中心: sees and dispatches every event.
    Dispatcher,
    /// Volunteer coordinator: registry, teams, activities.
    Coordinator,
    /// Manages accounts, keys and policy.
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Citizen,
        Role::GridWorker,
        Role::TeamMember,
        Role::Dispatcher,
        Role::Coordinator,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::GridWorker => "grid_worker",
            Role::TeamMember => "team_member",
            Role::Dispatcher => "dispatcher",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
        }
    }

    /// A stored role (or one named on the command line); an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Role, crate::stored::Corrupt> {
        crate::stored::lookup("role", &Role::ALL, Role::as_str, s)
    }
}

/// A set of roles a route admits. Implemented by the marker types below; a handler names one in
/// its `Auth<…>` argument.
pub trait RoleSet {
    const ROLES: &'static [Role];

    fn admits(roles: &[Role]) -> bool {
        roles.iter().any(|r| Self::ROLES.contains(r))
    }
}

macro_rules! role_set {
    ($(#[$doc:meta])* $name:ident => [$($role:ident),+]) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl RoleSet for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
        }
    };
}

role_set!(
    /// Anyone signed in.
    AnyRole => [Citizen, GridWorker, TeamMember, Dispatcher, Coordinator, Admin]
);
role_set!(
    /// Everyone who works for the street: all but citizens.
    Staff => [GridWorker, TeamMember, Dispatcher, Coordinator, Admin]
);
role_set!(
    /// Those who may change a building's profile: only grid workers stand in a relation that the
    /// access table lets write one (`crate::access`); whose grid it is follows in the handler.
    ProfileEditors => [GridWorker]
);
role_set!(
    /// 指挥中心: sees and steers every event.
    CommandCentre => [Dispatcher, Admin]
);
role_set!(
    /// Those who see grid health (五色网格): the command centre every grid, a grid worker the
    /// grids they serve (checked in the handler).
    HealthViewers => [GridWorker, Dispatcher, Admin]
);
role_set!(
    /// Those who take part in monthly reviews (月度研判): grid workers write their areas', the
    /// command centre reads, comments and marks them read (which reviews: `crate::access`).
    ReviewViewers => [GridWorker, Dispatcher, Admin]
);
role_set!(
    /// Volunteer coordinators: the registry, teams, patrols, activities, call-outs, rewards.
    Coordinators => [Coordinator, Admin]
);
role_set!(
    /// Account and key management.
    AdminOnly => [Admin]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).ok(), Some(r));
            let json = serde_json::to_string(&r).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn role_sets_admit_any_overlap() {
        assert!(AdminOnly::admits(&[Role::Citizen, Role::Admin]));
        assert!(!AdminOnly::admits(&[Role::Dispatcher]));
        assert!(!AnyRole::admits(&[]));
    }
}
