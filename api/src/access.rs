//! How a user stands to an event, a task, a building or a monthly review, and so what they read
//! and write of it.
//! The relations are found here, once, from the rows and the user's roles and areas; what each
//! relation allows is the table in [`sync_engine::access`]. REST handlers (event and building
//! reads, moves, profile changes, notes) and the sync gate both come here, so a phone offline
//! and a console online are allowed and refused the same things.

use places::locate::LocateIndex;
use sync_engine::DocKind;
use sync_engine::access::{Grant, Phase, Read, Relation};

use crate::accounts::{AreaKind, AreaRef};
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::entities::{buildings, events, tasks};
use crate::events::flow::Status;
use crate::places::areas::serves;
use crate::stored::Corrupt;

/// Relations every kind of document shares: the command centre by role.
fn by_role(user: &CurrentUser, out: &mut Vec<Relation>) {
    if user.has(Role::Dispatcher) {
        out.push(Relation::CommandCentre);
    }
    if user.has(Role::Admin) {
        out.push(Relation::Admin);
    }
}

/// Whether the user works for the grid or team a task is with: a grid worker serving its grid
/// (or an area above it), a member of its team.
pub fn works_on(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    t: &tasks::Model,
) -> bool {
    match t.assignee_kind.as_str() {
        "grid" => user.has(Role::GridWorker) && serves(index, areas, &t.assignee_code),
        "team" => {
            user.has(Role::TeamMember)
                && areas
                    .iter()
                    .any(|a| a.kind == AreaKind::Team && a.code == t.assignee_code)
        }
        _ => false,
    }
}

/// Whether a grid worker serves the event's place: its grid or its micro-grid (a worker of one
/// micro-grid sees what happens in it, though the task goes to the whole grid).
fn serves_place(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    e: &events::Model,
) -> bool {
    user.has(Role::GridWorker)
        && [e.grid_code.as_deref(), e.micro_grid_code.as_deref()]
            .into_iter()
            .flatten()
            .any(|code| serves(index, areas, code))
}

/// How the user stands to an event (its report): its reporter, a worker of its place or of
/// its open task, the command centre.
pub fn to_event(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    e: &events::Model,
    open_task: Option<&tasks::Model>,
) -> Vec<Relation> {
    let mut out = Vec::new();
    by_role(user, &mut out);
    if e.reporter_id == Some(user.id) {
        out.push(Relation::Reporter);
    }
    match open_task.filter(|t| works_on(user, areas, index, t)) {
        Some(t) if t.assignee_kind == "team" => out.push(Relation::TeamMember),
        Some(_) => out.push(Relation::PlaceWorker),
        None if serves_place(user, areas, index, e) => out.push(Relation::PlaceWorker),
        None => {}
    }
    out
}

/// How the user stands to one task of an event: its grid's or team's worker holds it; who
/// sees the event otherwise follows it (reads, never writes).
pub fn to_task(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    e: &events::Model,
    t: &tasks::Model,
) -> Vec<Relation> {
    let mut out = Vec::new();
    by_role(user, &mut out);
    if e.reporter_id == Some(user.id) {
        out.push(Relation::Reporter);
    }
    if works_on(user, areas, index, t) {
        out.push(if t.assignee_kind == "team" {
            Relation::TeamMember
        } else {
            Relation::PlaceWorker
        });
    } else if serves_place(user, areas, index, e) {
        out.push(Relation::Watcher);
    }
    out
}

/// How the user stands to a building: a worker of its grid or micro-grid, or staff who oversee
/// places from elsewhere.
pub fn to_building(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    b: &buildings::Model,
) -> Vec<Relation> {
    let mut out = Vec::new();
    by_role(user, &mut out);
    let leaf = b.micro_grid_code.as_deref().or(b.grid_code.as_deref());
    if user.has(Role::GridWorker) && leaf.is_some_and(|l| serves(index, areas, l)) {
        out.push(Relation::PlaceWorker);
    }
    building_roles(user, &mut out);
    out
}

/// Whether an event's report is still open to its reporter's words: not once handled.
pub fn report_phase(e: &events::Model) -> Result<Phase, Corrupt> {
    Ok(match Status::parse(&e.status)? {
        Status::Reported
        | Status::Accepted
        | Status::Dispatched
        | Status::Signed
        | Status::OnSite => Phase::Open,
        Status::Handled
        | Status::Completed
        | Status::Evaluated
        | Status::Rejected
        | Status::Merged => Phase::Closed,
    })
}

fn task_phase(t: &tasks::Model) -> Phase {
    if t.open { Phase::Open } else { Phase::Closed }
}

/// What the user may do with an event's report (and whether they see the event at all). An
/// event whose status cannot be read is an error, not a closed (or open) report.
pub fn report(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    e: &events::Model,
    open_task: Option<&tasks::Model>,
) -> Result<Grant, Corrupt> {
    Ok(Grant::of(
        DocKind::Report,
        &to_event(user, areas, index, e, open_task),
        report_phase(e)?,
    ))
}

/// What the user may do with one task of an event.
pub fn task(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    e: &events::Model,
    t: &tasks::Model,
) -> Grant {
    Grant::of(
        DocKind::Task,
        &to_task(user, areas, index, e, t),
        task_phase(t),
    )
}

/// What the user may do with a building's profile.
pub fn building(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    b: &buildings::Model,
) -> Grant {
    Grant::of(
        DocKind::Building,
        &to_building(user, areas, index, b),
        Phase::Open,
    )
}

/// Whether the user reads every building (masked at least) by their roles alone, wherever it
/// stands: the command centre and staff who oversee places.
pub fn oversees_buildings(user: &CurrentUser) -> bool {
    let mut relations = Vec::new();
    by_role(user, &mut relations);
    building_roles(user, &mut relations);
    sees(Grant::of(DocKind::Building, &relations, Phase::Open))
}

fn building_roles(user: &CurrentUser, out: &mut Vec<Relation>) {
    if user.has(Role::TeamMember) {
        out.push(Relation::TeamMember);
    }
    if user.has(Role::Coordinator) {
        out.push(Relation::Staff);
    }
}

/// What a user may do with an area's monthly review (网格月度研判报告).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReviewGrant {
    /// Read it (and generate a month not yet generated).
    pub read: bool,
    /// Write its assessment, submit it, correct it (a new version).
    pub write: bool,
    /// Comment on it.
    pub comment: bool,
    /// Mark it read.
    pub mark_read: bool,
}

/// What the user may do with the review of area `code` (a grid, community or street of
/// `scope`). A grid worker reads, writes and answers the reviews of the areas they serve (their
/// grids; a community's or the street's when they serve it). The command centre (dispatchers,
/// admins) reads, comments and marks read the reviews of the areas they serve or lie under
/// them, every review when they serve no area in particular; it also writes the community's
/// and the street's own assessment, which no grid worker may serve. Nobody else sees one.
pub fn review(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    code: &str,
    scope: crate::reviews::ReviewScope,
) -> ReviewGrant {
    let worker = user.has(Role::GridWorker) && serves(index, areas, code);
    let centre = (user.has(Role::Dispatcher) || user.has(Role::Admin))
        && (areas.iter().all(|a| a.kind == AreaKind::Team) || serves(index, areas, code));
    ReviewGrant {
        read: worker || centre,
        write: worker || (centre && scope != crate::reviews::ReviewScope::Grid),
        comment: worker || centre,
        mark_read: centre,
    }
}

/// The area codes whose reviews the user may list: None for every area (the command centre
/// serving no area in particular), else those [`review`] lets them read.
pub fn reviews_listed(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
) -> Option<std::collections::BTreeSet<String>> {
    let centre = user.has(Role::Dispatcher) || user.has(Role::Admin);
    if centre && areas.iter().all(|a| a.kind == AreaKind::Team) {
        return None;
    }
    if centre || user.has(Role::GridWorker) {
        Some(crate::places::areas::served_codes(index, areas))
    } else {
        Some(std::collections::BTreeSet::new())
    }
}

/// Whether a grant lets its holder see the thing at all.
pub fn sees(g: Grant) -> bool {
    g.read != Read::None
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::testing::{area, event_row, tree, user};

    fn task_of(e: &events::Model, kind: &str, code: &str, open: bool) -> tasks::Model {
        let now = Utc::now();
        tasks::Model {
            id: Uuid::now_v7(),
            event_id: e.id,
            assignee_kind: kind.into(),
            assignee_code: code.into(),
            open,
            colour: "blue".into(),
            sign_due: None,
            arrive_due: None,
            handle_due: None,
            signed_at: None,
            arrived_at: None,
            handled_at: None,
            light: "none".into(),
            escalated_to: None,
            feedback: None,
            on_site_note: None,
            created_at: now,
            closed_at: None,
        }
    }

    fn building_in(micro: &str, grid: &str) -> buildings::Model {
        let now = Utc::now();
        buildings::Model {
            id: Uuid::now_v7(),
            code: "S-B1".into(),
            name: "1幢".into(),
            address: "1幢".into(),
            lat: 30.0,
            lng: 120.0,
            micro_grid_code: Some(micro.into()),
            grid_code: Some(grid.into()),
            floors: None,
            notes: None,
            verified_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_grid_worker_of_the_task_writes_its_notes_and_the_command_centre_only_reads() {
        let idx = tree();
        let e = event_row(None, "dispatched");
        let t = task_of(&e, "grid", "S-G1", true);
        let worker = user(&[Role::GridWorker]);
        let g = task(&worker, &[area(AreaKind::Grid, "S-G1")], &idx, &e, &t);
        assert!(g.may_write(DocKind::Task, "feedback"));
        let dispatcher = user(&[Role::Dispatcher]);
        let g = task(&dispatcher, &[], &idx, &e, &t);
        assert_eq!(g.read, Read::Full);
        assert!(g.writable(DocKind::Task).is_empty());
        // Another grid's worker does not see it at all.
        let other = user(&[Role::GridWorker]);
        let g = task(&other, &[area(AreaKind::Grid, "S-G2")], &idx, &e, &t);
        assert_eq!(g, Grant::NONE);
        // A closed task is read, not written.
        let closed = task_of(&e, "grid", "S-G1", false);
        let g = task(&worker, &[area(AreaKind::Grid, "S-G1")], &idx, &e, &closed);
        assert_eq!(g.read, Read::Full);
        assert!(g.writable(DocKind::Task).is_empty());
    }

    #[test]
    fn a_worker_of_the_place_follows_a_task_sent_to_a_team_without_writing_it() {
        let idx = tree();
        let e = event_row(None, "dispatched");
        let t = task_of(&e, "team", "MED-1", true);
        let worker = user(&[Role::GridWorker]);
        let g = task(&worker, &[area(AreaKind::Grid, "S-G1")], &idx, &e, &t);
        assert_eq!(g.read, Read::Full);
        assert!(g.writable(DocKind::Task).is_empty());
        let member = user(&[Role::TeamMember]);
        let g = task(&member, &[area(AreaKind::Team, "MED-1")], &idx, &e, &t);
        assert!(g.may_write(DocKind::Task, "on_site_note"));
        // A team member of another team does not see it.
        let g = task(&member, &[area(AreaKind::Team, "FIRE-1")], &idx, &e, &t);
        assert_eq!(g, Grant::NONE);
    }

    #[test]
    fn a_micro_grid_worker_sees_the_events_of_its_micro_grid_only() -> Result<(), Corrupt> {
        let idx = tree();
        let e = event_row(None, "dispatched");
        let t = task_of(&e, "grid", "S-G1", true);
        let w = user(&[Role::GridWorker]);
        let mine = [area(AreaKind::MicroGrid, "S-G1-M1")];
        assert!(sees(report(&w, &mine, &idx, &e, Some(&t))?));
        let theirs = [area(AreaKind::MicroGrid, "S-G1-M2")];
        assert!(!sees(report(&w, &theirs, &idx, &e, Some(&t))?));
        // They follow the grid's task; they do not hold it.
        let g = task(&w, &mine, &idx, &e, &t);
        assert_eq!(g.read, Read::Full);
        assert!(!g.may_write(DocKind::Task, "feedback"));
        Ok(())
    }

    #[test]
    fn a_reporter_rewords_an_open_report_only_and_nobody_else_does() -> Result<(), Corrupt> {
        let idx = tree();
        let citizen = user(&[Role::Citizen]);
        let open = event_row(Some(citizen.id), "dispatched");
        assert!(
            report(&citizen, &[], &idx, &open, None)?.may_write(DocKind::Report, "description")
        );
        let handled = event_row(Some(citizen.id), "handled");
        let g = report(&citizen, &[], &idx, &handled, None)?;
        assert_eq!(g.read, Read::Full);
        assert!(!g.may_write(DocKind::Report, "description"));
        for roles in [&[Role::Dispatcher][..], &[Role::Admin], &[Role::GridWorker]] {
            let u = user(roles);
            let g = report(&u, &[area(AreaKind::Grid, "S-G1")], &idx, &open, None)?;
            assert!(sees(g), "{roles:?}");
            assert!(!g.may_write(DocKind::Report, "description"), "{roles:?}");
        }
        let stranger = user(&[Role::Citizen]);
        assert!(!sees(report(&stranger, &[], &idx, &open, None)?));
        Ok(())
    }

    #[test]
    fn a_status_this_version_does_not_know_is_an_error_not_a_phase() {
        let idx = tree();
        let citizen = user(&[Role::Citizen]);
        let e = event_row(Some(citizen.id), "Dispatched");
        let read = report(&citizen, &[], &idx, &e, None).map_err(|e| e.to_string());
        assert_eq!(
            read,
            Err("stored event status \"Dispatched\" cannot be read".to_owned())
        );
    }

    #[test]
    fn only_the_buildings_own_workers_read_it_whole_and_change_it() {
        let idx = tree();
        let b = building_in("S-G1-M1", "S-G1");
        let worker = user(&[Role::GridWorker]);
        let g = building(&worker, &[area(AreaKind::Grid, "S-G1")], &idx, &b);
        assert_eq!(g.read, Read::Full);
        assert!(g.may_write(DocKind::Building, "units"));
        for roles in [
            &[Role::Dispatcher][..],
            &[Role::Admin],
            &[Role::Coordinator],
            &[Role::TeamMember],
        ] {
            let g = building(&user(roles), &[], &idx, &b);
            assert_eq!(g.read, Read::Masked, "{roles:?}");
            assert!(!g.syncs(), "{roles:?}");
            assert!(g.writable(DocKind::Building).is_empty(), "{roles:?}");
        }
        assert_eq!(
            building(&user(&[Role::Citizen]), &[], &idx, &b),
            Grant::NONE
        );
        let other = building(&worker, &[area(AreaKind::Grid, "S-G2")], &idx, &b);
        assert_eq!(other, Grant::NONE);
    }
    #[test]
    fn the_open_task_decides_who_holds_an_event_sent_away_from_its_place() -> Result<(), Corrupt> {
        let idx = tree();
        let e = event_row(None, "dispatched");
        let away = task_of(&e, "grid", "S-G3", true);
        let g3 = user(&[Role::GridWorker]);
        let g3_areas = [area(AreaKind::Grid, "S-G3")];
        assert!(sees(report(&g3, &g3_areas, &idx, &e, Some(&away))?));
        assert!(task(&g3, &g3_areas, &idx, &e, &away).may_write(DocKind::Task, "feedback"));
        // The worker of the place still follows it, without writing.
        let g1 = user(&[Role::GridWorker]);
        let g1_areas = [area(AreaKind::Grid, "S-G1")];
        assert!(sees(report(&g1, &g1_areas, &idx, &e, Some(&away))?));
        let g = task(&g1, &g1_areas, &idx, &e, &away);
        assert_eq!(g.read, Read::Full);
        assert!(g.writable(DocKind::Task).is_empty());
        // A worker serving the community holds the tasks of its grids, not of another's.
        let c1 = user(&[Role::GridWorker]);
        let c1_areas = [area(AreaKind::Community, "S-C1")];
        let home = task_of(&e, "grid", "S-G1", true);
        assert!(task(&c1, &c1_areas, &idx, &e, &home).may_write(DocKind::Task, "feedback"));
        assert!(!task(&c1, &c1_areas, &idx, &e, &away).may_write(DocKind::Task, "feedback"));
        // Areas count for grid workers only: a citizen serving S-G3 on paper sees nothing.
        let citizen = user(&[Role::Citizen]);
        assert!(!sees(report(&citizen, &g3_areas, &idx, &e, Some(&away))?));
        Ok(())
    }

    #[test]
    fn a_review_is_its_areas_workers_and_the_command_centres_and_nobody_elses() {
        use crate::reviews::ReviewScope::{Community, Grid, Street};
        let idx = tree();
        let worker = user(&[Role::GridWorker]);
        let g1 = [area(AreaKind::Grid, "S-G1")];
        let own = review(&worker, &g1, &idx, "S-G1", Grid);
        assert!(own.read && own.write && own.comment && !own.mark_read);
        assert_eq!(
            review(&worker, &g1, &idx, "S-G2", Grid),
            ReviewGrant::default()
        );
        assert_eq!(
            review(&worker, &g1, &idx, "S-C1", Community),
            ReviewGrant::default()
        );
        // A worker serving the community holds its grids' reviews and its own.
        let c1 = [area(AreaKind::Community, "S-C1")];
        assert!(review(&worker, &c1, &idx, "S-G2", Grid).write);
        assert!(review(&worker, &c1, &idx, "S-C1", Community).write);
        assert!(!review(&worker, &c1, &idx, "S-G3", Grid).read);
        // The command centre reads, comments and marks read; writes only above the grids.
        let dispatcher = user(&[Role::Dispatcher]);
        let g = review(&dispatcher, &[], &idx, "S-G3", Grid);
        assert!(g.read && g.comment && g.mark_read && !g.write);
        assert!(review(&dispatcher, &[], &idx, "S", Street).write);
        // One serving a community sees that community's, not another's.
        let c1_centre = review(&dispatcher, &c1, &idx, "S-G1", Grid);
        assert!(c1_centre.read && c1_centre.mark_read);
        assert!(!review(&dispatcher, &c1, &idx, "S-G3", Grid).read);
        for roles in [
            &[Role::Citizen][..],
            &[Role::Coordinator],
            &[Role::TeamMember],
        ] {
            assert_eq!(
                review(&user(roles), &g1, &idx, "S-G1", Grid),
                ReviewGrant::default(),
                "{roles:?}"
            );
        }
        assert_eq!(reviews_listed(&dispatcher, &[], &idx), None);
        let listed = reviews_listed(&worker, &g1, &idx).unwrap_or_default();
        assert!(listed.contains("S-G1") && !listed.contains("S-G2"));
        assert_eq!(
            reviews_listed(&user(&[Role::Citizen]), &[], &idx),
            Some(Default::default())
        );
    }

    #[test]
    fn a_report_is_open_to_its_reporters_words_until_it_is_handled() -> Result<(), Corrupt> {
        for open in ["reported", "accepted", "dispatched", "signed", "on_site"] {
            assert_eq!(report_phase(&event_row(None, open))?, Phase::Open, "{open}");
        }
        for closed in ["handled", "completed", "evaluated", "rejected", "merged"] {
            assert_eq!(
                report_phase(&event_row(None, closed))?,
                Phase::Closed,
                "{closed}"
            );
        }
        Ok(())
    }
}
