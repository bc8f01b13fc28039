//! The server's review of what a peer's changes did to a document: which top-level fields
//! changed, whether the peer's role may change them and in that shape, and, for those it may not,
//! a change of the server's own that puts them back.
//!
//! A status written in a document is not a field write: it is handed to the caller as a move, for
//! the same state machine the REST calls go through.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, AutomergeError, ROOT, ScalarValue, hydrate};

use crate::DocKind;
use crate::access::Grant;
use crate::fields;

/// The shape a field's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Text: an automerge text object, or a string scalar.
    Text,
    /// A list.
    List,
    /// A map.
    Map,
}

impl DocKind {
    /// The shape of `field`, if it is a field of this kind.
    pub fn shape(self, field: &str) -> Option<Shape> {
        if !self.fields().contains(&field) {
            return None;
        }
        Some(match (self, field) {
            (_, "photos" | "units" | "shops") => Shape::List,
            (DocKind::Task, "deadlines") | (DocKind::Report, "location") => Shape::Map,
            _ => Shape::Text,
        })
    }
}

/// What a peer's changes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// Fields changed that the peer may change, in a shape the schema allows.
    pub accepted: BTreeSet<String>,
    /// Fields changed that the peer may not change, or in the wrong shape, with the reason.
    pub refused: Vec<(String, String)>,
    /// The status the peer wrote, for the state machine to decide on.
    pub status_move: Option<String>,
}

impl Review {
    /// Whether anything must be put back.
    pub fn is_clean(&self) -> bool {
        self.refused.is_empty()
    }
}

/// Compares the document before and after a peer's changes, field by field.
pub fn review(
    kind: DocKind,
    grant: Grant,
    before: &hydrate::Value,
    after: &hydrate::Value,
) -> Review {
    let mut out = Review::default();
    for field in changed_fields(before, after) {
        let value = root_field(after, &field);
        if field == "status" {
            match value.and_then(text_of) {
                Some(s) => out.status_move = Some(s),
                None => out
                    .refused
                    .push((field, "status must be text naming a status".into())),
            }
            continue;
        }
        let Some(shape) = kind.shape(&field) else {
            out.refused
                .push((field, "not a field of this document".into()));
            continue;
        };
        if !grant.may_write(kind, &field) {
            out.refused
                .push((field, "this role may not change this field".into()));
            continue;
        }
        match value {
            None => out
                .refused
                .push((field, "a field of the schema cannot be deleted".into())),
            Some(v) if !has_shape(v, shape) => {
                out.refused
                    .push((field, format!("must be {}", shape_name(shape))));
            }
            Some(_) => {
                out.accepted.insert(field);
            }
        }
    }
    out
}

/// The top-level fields whose value differs between two states of a document.
pub fn changed_fields(before: &hydrate::Value, after: &hydrate::Value) -> BTreeSet<String> {
    let keys = |v: &hydrate::Value| -> BTreeSet<String> {
        match v {
            hydrate::Value::Map(m) => m.iter().map(|(k, _)| k.clone()).collect(),
            _ => BTreeSet::new(),
        }
    };
    keys(before)
        .union(&keys(after))
        .filter(|k| root_field(before, k) != root_field(after, k))
        .cloned()
        .collect()
}

/// Puts each of `fields` back to its value in `before` (or removes it, if it was absent), as one
/// change of `doc`'s actor: the server's answer to an edit it does not allow.
pub fn restore(
    doc: &mut AutoCommit,
    before: &hydrate::Value,
    fields: &[String],
) -> Result<(), AutomergeError> {
    for field in fields {
        match root_field(before, field) {
            Some(v) => fields::put_field(doc, field, &fields::exact(v))?,
            None => doc.delete(ROOT, field.as_str())?,
        }
    }
    doc.commit();
    Ok(())
}

fn root_field<'a>(doc: &'a hydrate::Value, field: &str) -> Option<&'a hydrate::Value> {
    match doc {
        hydrate::Value::Map(m) => m.get(field),
        _ => None,
    }
}

fn text_of(v: &hydrate::Value) -> Option<String> {
    match v {
        hydrate::Value::Text(t) => Some(t.to_string()),
        hydrate::Value::Scalar(ScalarValue::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

fn has_shape(v: &hydrate::Value, shape: Shape) -> bool {
    match shape {
        Shape::Text => text_of(v).is_some(),
        Shape::List => matches!(v, hydrate::Value::List(_)),
        Shape::Map => matches!(v, hydrate::Value::Map(_)),
    }
}

fn shape_name(shape: Shape) -> &'static str {
    match shape {
        Shape::Text => "text",
        Shape::List => "a list",
        Shape::Map => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ActorId, ObjType, ReadDoc};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A task document as the server first writes it.
    fn task() -> Result<AutoCommit, AutomergeError> {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(b"server".as_slice()));
        for (field, text) in [
            ("status", "dispatched"),
            ("feedback", ""),
            ("on_site_note", ""),
        ] {
            let id = doc.put_object(ROOT, field, ObjType::Text)?;
            doc.splice_text(&id, 0, 0, text)?;
        }
        doc.put_object(ROOT, "photos", ObjType::List)?;
        let deadlines = doc.put_object(ROOT, "deadlines", ObjType::Map)?;
        doc.put(&deadlines, "sign", "2026-12-02T08:01:00+08:00")?;
        doc.commit();
        Ok(doc)
    }

    fn state(doc: &AutoCommit) -> Result<hydrate::Value, AutomergeError> {
        doc.hydrate(ROOT, None)
    }

    fn set_text(doc: &mut AutoCommit, field: &str, text: &str) -> TestResult {
        let id = doc.put_object(ROOT, field, ObjType::Text)?;
        doc.splice_text(&id, 0, 0, text)?;
        doc.commit();
        Ok(())
    }

    fn text(doc: &AutoCommit, field: &str) -> Result<String, AutomergeError> {
        match doc.get(ROOT, field)? {
            Some((_, id)) => doc.text(&id),
            None => Ok(String::new()),
        }
    }

    #[test]
    fn a_workers_feedback_is_accepted_and_a_status_is_a_move() -> TestResult {
        let mut server = task()?;
        let before = state(&server)?;
        let mut phone = server.fork().with_actor(ActorId::from(b"phone".as_slice()));
        set_text(&mut phone, "feedback", "堆物已清理")?;
        set_text(&mut phone, "status", "handled")?;
        server.merge(&mut phone)?;
        let r = review(
            DocKind::Task,
            crate::access::open_task(crate::access::Relation::PlaceWorker),
            &before,
            &state(&server)?,
        );
        assert_eq!(r.accepted, BTreeSet::from(["feedback".to_owned()]));
        assert_eq!(r.status_move.as_deref(), Some("handled"));
        assert!(r.is_clean());
        Ok(())
    }

    #[test]
    fn a_field_not_allowed_is_put_back_and_the_rest_is_kept() -> TestResult {
        let mut server = task()?;
        let before = state(&server)?;
        let mut phone = server.fork().with_actor(ActorId::from(b"phone".as_slice()));
        set_text(&mut phone, "feedback", "已处理")?;
        // A citizen's phone tries to rewrite a task's deadlines and to add a field.
        let deadlines = phone.put_object(ROOT, "deadlines", ObjType::Map)?;
        phone.put(&deadlines, "sign", "2027-01-01T00:00:00+08:00")?;
        phone.put(ROOT, "owner", "me")?;
        phone.commit();
        server.merge(&mut phone)?;
        let r = review(
            DocKind::Task,
            crate::access::open_task(crate::access::Relation::Reporter),
            &before,
            &state(&server)?,
        );
        let refused: Vec<&str> = r.refused.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(refused, ["deadlines", "feedback", "owner"]);

        let fields: Vec<String> = r.refused.iter().map(|(f, _)| f.clone()).collect();
        restore(&mut server, &before, &fields)?;
        assert_eq!(state(&server)?, before, "every refused field is back");
        // The phone that syncs the server's answer ends with the server's values too.
        phone.merge(&mut server)?;
        assert_eq!(state(&phone)?, before);
        assert_eq!(text(&phone, "feedback")?, "");
        Ok(())
    }

    #[test]
    fn wrong_shapes_and_deletions_are_refused() -> TestResult {
        let mut server = task()?;
        let before = state(&server)?;
        let mut phone = server.fork().with_actor(ActorId::from(b"phone".as_slice()));
        phone.put(ROOT, "photos", "not a list")?;
        phone.delete(ROOT, "on_site_note")?;
        phone.commit();
        server.merge(&mut phone)?;
        let r = review(
            DocKind::Task,
            crate::access::open_task(crate::access::Relation::PlaceWorker),
            &before,
            &state(&server)?,
        );
        assert_eq!(
            r.refused,
            vec![
                (
                    "on_site_note".to_owned(),
                    "a field of the schema cannot be deleted".to_owned()
                ),
                ("photos".to_owned(), "must be a list".to_owned()),
            ]
        );
        assert!(r.accepted.is_empty());
        Ok(())
    }

    #[test]
    fn the_schema_gives_each_field_a_shape() {
        assert_eq!(DocKind::Building.shape("units"), Some(Shape::List));
        assert_eq!(DocKind::Report.shape("location"), Some(Shape::Map));
        assert_eq!(DocKind::Report.shape("description"), Some(Shape::Text));
        assert_eq!(DocKind::Task.shape("owner"), None);
    }
}
