//! Who hears an outbox row. One rule, rendered twice: as a predicate for the websocket hub
//! ([`Audience::hears`]) and as a query condition for the feed, a condition per way a row reaches the audience
//! ([`Audience::branches`]), so a
//! client reads by cursor exactly what it would have heard live.
//!
//! Admins and dispatchers hear everything. A grid worker hears rows of the grids they serve: a
//! grid is served when any area on its chain (itself, its community, its street …) is one the
//! worker serves. A team member hears rows of their teams. Everyone hears rows addressed to them
//! (a citizen, the updates of their own reports).

use std::collections::HashSet;

use places::locate::LocateIndex;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait};
use uuid::Uuid;

use crate::accounts::{self, AreaKind, AreaRef};
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::entities::outbox;
use crate::error::ApiResult;
use crate::places::areas::served_codes;

/// What one signed-in user hears.
#[derive(Debug, Clone)]
pub struct Audience {
    user: Uuid,
    everything: bool,
    /// Every area code whose rows the user hears as a grid worker, already expanded through the
    /// area tree.
    grids: HashSet<String>,
    /// Team codes whose rows the user hears as a team member.
    teams: HashSet<String>,
    /// Whether the user sees which report an event likely repeats.
    duplicates: bool,
}

impl Audience {
    /// The audience of a signed-in user, from their roles, the areas they serve and the tree.
    pub async fn of(
        db: &impl ConnectionTrait,
        index: &LocateIndex,
        user: &CurrentUser,
    ) -> ApiResult<Self> {
        let needs_areas = !Self::hears_everything(user)
            && (user.has(Role::GridWorker) || user.has(Role::TeamMember));
        let areas = if needs_areas {
            accounts::areas_of(db, user.id).await?
        } else {
            Vec::new()
        };
        Ok(Self::from_areas(user, &areas, index))
    }

    fn hears_everything(user: &CurrentUser) -> bool {
        user.has(Role::Admin) || user.has(Role::Dispatcher)
    }

    /// The audience of a user serving `areas`, expanded through `index`.
    pub fn from_areas(user: &CurrentUser, areas: &[AreaRef], index: &LocateIndex) -> Self {
        let everything = Self::hears_everything(user);
        let mut grids = HashSet::new();
        let mut teams = HashSet::new();
        if !everything && user.has(Role::GridWorker) {
            grids.extend(served_codes(index, areas));
        }
        if !everything && user.has(Role::TeamMember) {
            teams.extend(
                areas
                    .iter()
                    .filter(|a| a.kind == AreaKind::Team)
                    .map(|a| a.code.clone()),
            );
        }
        Self {
            user: user.id,
            everything,
            grids,
            teams,
            duplicates: crate::events::views::sees_duplicates(Some(user)),
        }
    }

    /// Whether rows reach this audience with the id of the report an event likely repeats
    /// (see `events::views::sees_duplicates`).
    pub fn sees_duplicates(&self) -> bool {
        self.duplicates
    }

    /// Whether a row reaches this audience: by its grid or micro-grid, its team or its user.
    pub fn hears(&self, row: &super::Delivery) -> bool {
        self.hears_parts(
            [row.grid_code.as_deref(), row.micro_grid_code.as_deref()],
            row.team_code.as_deref(),
            row.user_id,
        )
    }

    fn hears_parts(
        &self,
        places: [Option<&str>; 2],
        team: Option<&str>,
        user: Option<Uuid>,
    ) -> bool {
        self.everything
            || user == Some(self.user)
            || places.into_iter().flatten().any(|g| self.grids.contains(g))
            || team.is_some_and(|t| self.teams.contains(t))
    }

    /// The same rule over the outbox table, one condition per way a row reaches the audience
    /// (its user, grid, micro-grid, team); `None` when the audience hears everything. Each is one
    /// range of an index with the position (`idx_outbox_user` …), so the feed reads each apart.
    pub fn branches(&self) -> Option<Vec<Condition>> {
        if self.everything {
            return None;
        }
        let mut b = vec![Condition::all().add(outbox::Column::UserId.eq(self.user))];
        if !self.grids.is_empty() {
            b.push(
                Condition::all().add(outbox::Column::GridCode.is_in(self.grids.iter().cloned())),
            );
            b.push(
                Condition::all()
                    .add(outbox::Column::MicroGridCode.is_in(self.grids.iter().cloned())),
            );
        }
        if !self.teams.is_empty() {
            b.push(
                Condition::all().add(outbox::Column::TeamCode.is_in(self.teams.iter().cloned())),
            );
        }
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{area, tree, user};

    #[test]
    fn a_community_worker_hears_its_grids_and_their_micro_grids_only() {
        let u = user(&[Role::GridWorker]);
        let a = Audience::from_areas(&u, &[area(AreaKind::Community, "S-C1")], &tree());
        for g in ["S-G1", "S-G2", "S-G1-M1", "S-C1"] {
            assert!(a.hears_parts([Some(g), None], None, None), "{g}");
        }
        for g in ["S-G3", "S-C2", "S"] {
            assert!(!a.hears_parts([Some(g), None], None, None), "{g}");
        }
        assert!(a.hears_parts([None, None], None, Some(u.id)));
        assert!(!a.hears_parts([None, None], Some("TEAM"), Some(Uuid::now_v7())));
    }

    #[test]
    fn roles_decide_which_areas_count() {
        let areas = [area(AreaKind::Grid, "S-G1"), area(AreaKind::Team, "MED")];
        let worker = Audience::from_areas(&user(&[Role::GridWorker]), &areas, &tree());
        assert!(worker.hears_parts([Some("S-G1"), None], None, None));
        assert!(!worker.hears_parts([None, None], Some("MED"), None));
        let member = Audience::from_areas(&user(&[Role::TeamMember]), &areas, &tree());
        assert!(member.hears_parts([None, None], Some("MED"), None));
        assert!(!member.hears_parts([Some("S-G1"), None], None, None));
        let citizen = Audience::from_areas(&user(&[Role::Citizen]), &areas, &tree());
        assert!(!citizen.hears_parts([Some("S-G1"), None], Some("MED"), None));
        assert_eq!(citizen.branches().map(|b| b.len()), Some(1));
        let dispatcher = Audience::from_areas(&user(&[Role::Dispatcher]), &[], &tree());
        assert!(dispatcher.hears_parts([None, None], None, None));
        assert!(dispatcher.branches().is_none());
    }

    #[test]
    fn a_micro_grid_worker_hears_rows_of_its_micro_grid_whatever_their_grid() {
        let u = user(&[Role::GridWorker]);
        let a = Audience::from_areas(&u, &[area(AreaKind::MicroGrid, "S-G1-M1")], &tree());
        assert!(a.hears_parts([Some("S-G1"), Some("S-G1-M1")], None, None));
        assert!(!a.hears_parts([Some("S-G1"), None], None, None));
        assert!(!a.hears_parts([Some("S-G2"), Some("S-G2-M1")], None, None));
    }

    #[test]
    fn served_codes_count_even_outside_the_tree() {
        let u = user(&[Role::GridWorker]);
        let a = Audience::from_areas(&u, &[area(AreaKind::Grid, "X-G9")], &LocateIndex::empty());
        assert!(a.hears_parts([Some("X-G9"), None], None, None));
    }
}
