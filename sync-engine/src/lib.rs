//! The offline-first documents of gridwing: which kinds of document phones keep and edit while
//! offline and which fields each role may change ([`DocKind`]), the automerge-repo wire protocol
//! ([`protocol`], [`docid`]), the per-connection gate that checks access before a peer's bytes
//! are read ([`peer`]), the bounded pre-scan of compressed changes ([`scan`]), taking a message
//! into a document within limits ([`merge`]) and reviewing what it changed ([`review`]), and the
//! server's writes of its own values ([`fields`]). Storage and transport live in the `api` crate.

pub mod docid;
pub mod fields;
pub mod harness;
pub mod merge;
pub mod peer;
pub mod protocol;
pub mod review;
pub mod scan;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A kind of document a phone keeps a copy of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// A task (交办) handled by a grid or team.
    Task,
    /// A citizen's report (民呼我为).
    Report,
    /// A building profile (屋联码).
    Building,
}

/// Who is editing: the role the server found in the peer's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    Citizen,
    Worker,
    Dispatcher,
    /// May read the document and change nothing (a citizen's report once it is closed).
    Reader,
}

impl DocKind {
    /// The top-level fields of this kind of document.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            DocKind::Task => &[
                "status",
                "description",
                "category",
                "colour",
                "light",
                "assignee",
                "deadlines",
                "feedback",
                "on_site_note",
                "photos",
            ],
            DocKind::Report => &["description", "category", "photos", "location", "status"],
            DocKind::Building => &["code", "name", "address", "notes", "units", "shops"],
        }
    }

    /// Fields the server writes from its rows and no peer may change: a status moves only
    /// through the state machine, and the rest through the command centre's REST calls.
    pub fn server_owned(self, field: &str) -> bool {
        match self {
            DocKind::Task => matches!(
                field,
                "status"
                    | "description"
                    | "category"
                    | "colour"
                    | "light"
                    | "assignee"
                    | "deadlines"
            ),
            DocKind::Report => matches!(field, "status" | "category" | "location" | "photos"),
            DocKind::Building => matches!(field, "code" | "name" | "address"),
        }
    }

    /// Whether `editor` may change `field` of this kind of document. Status moves are never a
    /// plain field write: they go through the server's state machine, so no editor gets them here.
    pub fn may_write(self, editor: Editor, field: &str) -> bool {
        match (self, editor) {
            (DocKind::Task, Editor::Worker) => {
                matches!(field, "feedback" | "on_site_note" | "photos")
            }
            (DocKind::Report, Editor::Citizen) => field == "description",
            (DocKind::Building, Editor::Worker) => matches!(field, "units" | "shops" | "notes"),
            (_, Editor::Dispatcher) => !self.server_owned(field) && self.fields().contains(&field),
            _ => false,
        }
    }
}

/// A document's id: a UUID, written as `<kind>:<uuid>` in logs and URLs of this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocId {
    pub kind: DocKind,
    pub id: Uuid,
}

/// Why a document id could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocIdError {
    #[error("expected <kind>:<uuid>")]
    Shape,
    #[error("unknown document kind {0:?}")]
    Kind(String),
    #[error("not a UUID")]
    Uuid,
}

impl std::fmt::Display for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            DocKind::Task => "task",
            DocKind::Report => "report",
            DocKind::Building => "building",
        };
        write!(f, "{kind}:{}", self.id)
    }
}

impl std::str::FromStr for DocId {
    type Err = DocIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, id) = s.split_once(':').ok_or(DocIdError::Shape)?;
        let kind = match kind {
            "task" => DocKind::Task,
            "report" => DocKind::Report,
            "building" => DocKind::Building,
            other => return Err(DocIdError::Kind(other.to_owned())),
        };
        let id = Uuid::parse_str(id).map_err(|_| DocIdError::Uuid)?;
        Ok(DocId { kind, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip_and_reject_garbage() {
        let id = DocId {
            kind: DocKind::Task,
            id: Uuid::now_v7(),
        };
        assert_eq!(id.to_string().parse::<DocId>(), Ok(id));
        assert_eq!("task".parse::<DocId>(), Err(DocIdError::Shape));
        assert!(matches!(
            "ticket:x".parse::<DocId>(),
            Err(DocIdError::Kind(_))
        ));
        assert_eq!("task:not-a-uuid".parse::<DocId>(), Err(DocIdError::Uuid));
    }

    #[test]
    fn nobody_writes_status_as_a_field() {
        for kind in [DocKind::Task, DocKind::Report, DocKind::Building] {
            for editor in [
                Editor::Citizen,
                Editor::Worker,
                Editor::Dispatcher,
                Editor::Reader,
            ] {
                assert!(!kind.may_write(editor, "status"), "{kind:?} {editor:?}");
            }
        }
    }

    #[test]
    fn roles_write_only_their_fields() {
        assert!(DocKind::Task.may_write(Editor::Worker, "feedback"));
        assert!(!DocKind::Task.may_write(Editor::Citizen, "feedback"));
        assert!(DocKind::Report.may_write(Editor::Citizen, "description"));
        assert!(!DocKind::Report.may_write(Editor::Citizen, "category"));
        assert!(!DocKind::Building.may_write(Editor::Citizen, "units"));
        assert!(!DocKind::Building.may_write(Editor::Worker, "address"));
        assert!(!DocKind::Task.may_write(Editor::Dispatcher, "no_such_field"));
        assert!(!DocKind::Task.may_write(Editor::Dispatcher, "colour"));
        assert!(!DocKind::Report.may_write(Editor::Reader, "description"));
    }
}
