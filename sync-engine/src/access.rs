//! The access table: for each kind of document and each relation a user can stand in to it,
//! what that user reads of it (whole, masked or nothing) and which of its fields they write.
//! REST handlers and the sync gate both ask this table, so the two paths cannot drift apart:
//! whatever a phone may change offline is exactly what the REST call that does the same thing
//! allows, and nobody gets a document whose raw values REST would mask for them.
//!
//! A user may stand in several relations at once (a dispatcher who reported the event
//! themselves); their grant is the union of the grants of each.

use crate::DocKind;

/// How a user stands to the thing a document mirrors. Which relations a user holds is decided
/// by the server from its rows (`api`'s access module); this table only says what each allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Relation {
    /// The citizen who reported the event (a report, and the tasks made of it).
    Reporter,
    /// A grid worker serving the place: the building's grid or micro-grid, the event's grid, or
    /// the grid a task is with.
    PlaceWorker,
    /// A member of the team a task is with (for a building: any team member on duty).
    TeamMember,
    /// A dispatcher of the command centre.
    CommandCentre,
    /// An administrator.
    Admin,
    /// Other staff who oversee places without working in them (volunteer coordinators).
    Staff,
    /// A grid worker of the event's place whose task is with someone else (a team, or the
    /// whole grid while they serve one micro-grid of it): follows the task, does not hold it.
    Watcher,
}

impl Relation {
    pub const ALL: [Relation; 7] = [
        Relation::Reporter,
        Relation::PlaceWorker,
        Relation::TeamMember,
        Relation::CommandCentre,
        Relation::Admin,
        Relation::Staff,
        Relation::Watcher,
    ];
}

/// How much of a document a user reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Read {
    /// Nothing: the document does not exist for them (REST answers 404, sync `doc-unavailable`).
    None,
    /// Personal numbers (phone, ID number) masked. Sync never hands out such a document: the
    /// shared document holds the raw values, so these readers get `doc-unavailable` and read the
    /// masked profile over REST.
    Masked,
    /// Everything.
    Full,
}

/// Whether the matter a document mirrors is still open. A closed task or a closed report is
/// read, never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Open,
    Closed,
}

/// What one user may do with one document: what they read, and a bit for each field of the
/// kind (in the order of [`DocKind::fields`]) that they write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grant {
    pub read: Read,
    writes: u32,
}

/// One row of the table: what a relation reads and writes while the matter is open. Once it is
/// closed, the same relation reads the same and writes nothing.
fn row(kind: DocKind, relation: Relation) -> (Read, &'static [&'static str]) {
    use Relation::*;
    match (kind, relation) {
        // The task's grid or team works it: what they found on site, what they did, photos.
        // Status moves go through the state machine, never as a field.
        (DocKind::Task, PlaceWorker | TeamMember) => {
            (Read::Full, &["feedback", "on_site_note", "photos"])
        }
        // The command centre steers a task by moves and recolouring (REST), not by its fields;
        // the reporter follows it to the end.
        (DocKind::Task, CommandCentre | Admin | Reporter | Watcher) => (Read::Full, &[]),
        (DocKind::Task, Staff) => (Read::None, &[]),

        // A citizen may reword their own report while it is open; everyone who sees the event
        // reads it.
        (DocKind::Report, Reporter) => (Read::Full, &["description"]),
        (DocKind::Report, PlaceWorker | TeamMember | CommandCentre | Admin | Watcher) => {
            (Read::Full, &[])
        }
        (DocKind::Report, Staff) => (Read::None, &[]),

        // The grid's workers keep their buildings' profiles. Everyone else on staff reads them
        // masked, and nobody writes what they read masked: a masked number written back would
        // overwrite the real one.
        (DocKind::Building, PlaceWorker) => {
            (Read::Full, &["name", "address", "notes", "units", "shops"])
        }
        (DocKind::Building, TeamMember | CommandCentre | Admin | Staff) => (Read::Masked, &[]),
        (DocKind::Building, Reporter | Watcher) => (Read::None, &[]),
    }
}

impl Grant {
    /// No access at all.
    pub const NONE: Grant = Grant {
        read: Read::None,
        writes: 0,
    };

    /// The grant of a user standing in `relations` to a document of `kind` in `phase`.
    pub fn of(kind: DocKind, relations: &[Relation], phase: Phase) -> Grant {
        let mut g = Grant::NONE;
        for &r in relations {
            let (read, writes) = row(kind, r);
            g.read = g.read.max(read);
            if phase == Phase::Open {
                for w in writes {
                    g.writes |= bit(kind, w);
                }
            }
        }
        g
    }

    /// Whether the user may change `field` of a document of `kind`. Fields the server owns
    /// (status, and what only the command centre's REST calls change) are never in the table.
    pub fn may_write(self, kind: DocKind, field: &str) -> bool {
        self.writes & bit(kind, field) != 0 && !kind.server_owned(field)
    }

    /// Whether the user may hold the document over sync at all: only whole readers do, since a
    /// document is shared by everyone who syncs it and holds the raw values.
    pub fn syncs(self) -> bool {
        self.read == Read::Full
    }

    /// The fields of `kind` this grant writes.
    pub fn writable(self, kind: DocKind) -> Vec<&'static str> {
        kind.fields()
            .iter()
            .copied()
            .filter(|f| self.may_write(kind, f))
            .collect()
    }
}

/// A task's grant to one relation while it is open: what the engine's own tests merge with.
#[cfg(test)]
pub(crate) fn open_task(relation: Relation) -> Grant {
    Grant::of(DocKind::Task, &[relation], Phase::Open)
}

fn bit(kind: DocKind, field: &str) -> u32 {
    kind.fields()
        .iter()
        .position(|f| *f == field)
        .map_or(0, |i| 1 << i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [DocKind; 3] = [DocKind::Task, DocKind::Report, DocKind::Building];

    #[test]
    fn nobody_writes_what_they_read_masked_or_not_at_all() {
        for kind in KINDS {
            for r in Relation::ALL {
                let g = Grant::of(kind, &[r], Phase::Open);
                if g.read != Read::Full {
                    assert!(g.writable(kind).is_empty(), "{kind:?} {r:?}");
                }
            }
        }
    }

    #[test]
    fn every_field_in_the_table_is_a_field_of_its_kind_and_none_is_server_owned() {
        for kind in KINDS {
            for r in Relation::ALL {
                for f in row(kind, r).1 {
                    assert!(kind.fields().contains(f), "{kind:?} {f}");
                    assert!(!kind.server_owned(f), "{kind:?} {f}");
                }
            }
        }
    }

    #[test]
    fn a_closed_matter_is_read_and_never_written() {
        for kind in KINDS {
            for r in Relation::ALL {
                let open = Grant::of(kind, &[r], Phase::Open);
                let closed = Grant::of(kind, &[r], Phase::Closed);
                assert_eq!(open.read, closed.read);
                assert!(closed.writable(kind).is_empty(), "{kind:?} {r:?}");
            }
        }
    }

    #[test]
    fn the_command_centre_writes_no_document_field_and_reads_buildings_masked() {
        for r in [Relation::CommandCentre, Relation::Admin] {
            for kind in KINDS {
                assert!(Grant::of(kind, &[r], Phase::Open).writable(kind).is_empty());
            }
            let b = Grant::of(DocKind::Building, &[r], Phase::Open);
            assert_eq!(b.read, Read::Masked);
            assert!(!b.syncs());
        }
    }

    #[test]
    fn relations_add_up() {
        // A dispatcher who reported the event rewords it as its reporter.
        let g = Grant::of(
            DocKind::Report,
            &[Relation::CommandCentre, Relation::Reporter],
            Phase::Open,
        );
        assert!(g.may_write(DocKind::Report, "description"));
        // A grid worker who is also a coordinator reads their own buildings whole.
        let g = Grant::of(
            DocKind::Building,
            &[Relation::Staff, Relation::PlaceWorker],
            Phase::Open,
        );
        assert_eq!(g.read, Read::Full);
        assert!(g.may_write(DocKind::Building, "units"));
        assert_eq!(Grant::of(DocKind::Task, &[], Phase::Open), Grant::NONE);
    }

    #[test]
    fn workers_write_only_their_fields() {
        let g = Grant::of(DocKind::Task, &[Relation::PlaceWorker], Phase::Open);
        assert_eq!(
            g.writable(DocKind::Task),
            ["feedback", "on_site_note", "photos"]
        );
        assert!(!g.may_write(DocKind::Task, "colour"));
        assert!(!g.may_write(DocKind::Task, "no_such_field"));
        let g = Grant::of(DocKind::Building, &[Relation::PlaceWorker], Phase::Open);
        assert!(!g.may_write(DocKind::Building, "code"));
        let g = Grant::of(DocKind::Report, &[Relation::Reporter], Phase::Open);
        assert_eq!(g.writable(DocKind::Report), ["description"]);
    }
}
