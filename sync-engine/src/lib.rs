//! The offline-first documents of gridwing: which kinds of document phones keep and edit while
//! offline ([`DocKind`]) and who reads and writes which of their fields ([`access`], the table
//! REST handlers consult too), the automerge-repo wire protocol
//! ([`protocol`], [`docid`]), the per-connection gate that checks access before a peer's bytes
//! are read ([`peer`]), the bounded pre-scan of compressed changes ([`scan`]), taking a message
//! into a document within limits ([`merge`]) and reviewing what it changed ([`review`]), and the
//! server's writes of its own values ([`fields`]). Storage and transport live in the `api` crate.

pub mod access;
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
            // A building's code names it and is printed in its QR code.
            DocKind::Building => field == "code",
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
        use access::{Grant, Phase, Relation};
        for kind in [DocKind::Task, DocKind::Report, DocKind::Building] {
            let everyone = Grant::of(kind, &Relation::ALL, Phase::Open);
            assert!(!everyone.may_write(kind, "status"), "{kind:?}");
        }
    }
}
