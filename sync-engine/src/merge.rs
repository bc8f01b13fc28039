//! Taking one sync message from a peer into a document, within limits, and reviewing it.
//!
//! A message that carries changes is applied to a copy of the document, so one that fails,
//! panics inside automerge or breaks a limit leaves the document exactly as it was; only a
//! message that passes everything replaces it. A message of heads and wants alone changes no
//! document and is applied directly. The caller persists the new changes and runs any status move.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash, ROOT, ReadDoc, hydrate};

use crate::DocKind;
use crate::access::Grant;
use crate::review::{self, Review};
use crate::scan::{self, ScanError};

/// What one message and one document may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of the sync message's changes once decompressed.
    pub inflated_bytes: usize,
    /// Changes a document may hold in all.
    pub doc_changes: usize,
    /// The size of a document's content (text and values), in bytes.
    pub doc_bytes: usize,
    /// Time to take in one message; a message that takes longer is refused.
    pub budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            inflated_bytes: 4 << 20,
            doc_changes: 20_000,
            doc_bytes: 1 << 20,
            budget: Duration::from_secs(2),
        }
    }
}

/// Why a message was not taken in.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("not an automerge sync message: {0}")]
    Decode(String),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("the changes cannot be applied: {0}")]
    Apply(String),
    #[error("the document would hold {count} changes, more than {limit}")]
    TooManyChanges { count: usize, limit: usize },
    #[error("the document would hold {size} bytes, more than {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the message took longer than {0:?} to apply")]
    TooSlow(Duration),
    #[error("the message broke the document engine")]
    Panicked,
}

/// A message taken in.
#[derive(Debug)]
pub struct Merged {
    /// The heads before the message, to save the new changes after.
    pub heads_before: Vec<ChangeHash>,
    /// Changes the message added (0 for a message that only tells heads).
    pub added: usize,
    /// The document after the message and after any restore.
    pub after: hydrate::Value,
    /// What the peer's changes did, field by field.
    pub review: Review,
}

/// What a message with changes did to a copy of the document and of the peer's sync state: none
/// of it is in the document until [`Pending::keep`]. The server keeps it once the changes are in
/// the database, so a write the database refuses leaves the document, and what the server
/// believes the peer has, as they were; the peer sends the changes again.
#[must_use = "a merge not kept is dropped"]
pub struct Pending {
    trial: Option<(AutoCommit, sync::State)>,
    added: usize,
}

impl Pending {
    /// The changes added after `heads` (the heads before the message), as stored.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        match &mut self.trial {
            Some((doc, _)) => doc.save_after(heads),
            None => Vec::new(),
        }
    }

    /// Puts the merge into the document and the sync state, and counts its changes.
    pub fn keep(self, doc: &mut AutoCommit, state: &mut sync::State, changes: &mut usize) {
        if let Some((d, s)) = self.trial {
            *doc = d;
            *state = s;
        }
        *changes += self.added;
    }
}

/// Applies `data` from a peer writing what `grant` allows. `changes` is how many changes `doc`
/// holds, for the limit. Refused fields are put back at once; a status the peer wrote is in the
/// review for the caller's state machine. A message of heads and wants alone changes no document
/// and is applied to `state` at once; one with changes is applied to copies, kept only through
/// the [`Pending`] returned.
pub fn receive(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    changes: usize,
    kind: DocKind,
    grant: Grant,
    data: &[u8],
    limits: &Limits,
) -> Result<(Merged, Pending), MergeError> {
    let started = Instant::now();
    let message = catch_unwind(AssertUnwindSafe(|| checked(data, limits)))
        .map_err(|_| MergeError::Panicked)??;
    let run = |doc: &mut AutoCommit, state: &mut sync::State, message| {
        catch_unwind(AssertUnwindSafe(|| {
            apply(doc, state, changes, kind, grant, message, limits)
        }))
        .map_err(|_| MergeError::Panicked)?
    };
    if message.changes.iter().len() == 0 {
        let merged = run(doc, state, message)?;
        let added = merged.added;
        return Ok((merged, Pending { trial: None, added }));
    }
    let mut trial_doc = doc.clone();
    let mut trial_state = state.clone();
    let merged = run(&mut trial_doc, &mut trial_state, message)?;
    if started.elapsed() > limits.budget {
        return Err(MergeError::TooSlow(limits.budget));
    }
    let added = merged.added;
    Ok((
        merged,
        Pending {
            trial: Some((trial_doc, trial_state)),
            added,
        },
    ))
}

/// The message, decoded and checked before automerge acts on any part of it.
fn checked(data: &[u8], limits: &Limits) -> Result<sync::Message, MergeError> {
    let message = sync::Message::decode(data).map_err(|e| MergeError::Decode(e.to_string()))?;
    scan::inflated_size(message.changes.iter(), limits.inflated_bytes)?;
    for have in &message.have {
        scan::check_bloom(&have.bloom.to_bytes())?;
    }
    Ok(message)
}

fn apply(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    changes: usize,
    kind: DocKind,
    grant: Grant,
    message: sync::Message,
    limits: &Limits,
) -> Result<Merged, MergeError> {
    let heads_before = doc.get_heads();
    let before = hydrate_root(doc)?;
    doc.sync()
        .receive_sync_message(state, message)
        .map_err(|e| MergeError::Apply(e.to_string()))?;
    let added = doc.get_changes(&heads_before).len();
    if changes + added > limits.doc_changes {
        return Err(MergeError::TooManyChanges {
            count: changes + added,
            limit: limits.doc_changes,
        });
    }
    if added == 0 {
        return Ok(Merged {
            heads_before,
            added,
            after: before,
            review: Review::default(),
        });
    }
    let mut after = hydrate_root(doc)?;
    let size = weight(&after);
    if size > limits.doc_bytes {
        return Err(MergeError::TooLarge {
            size,
            limit: limits.doc_bytes,
        });
    }
    let review = review::review(kind, grant, &before, &after);
    if !review.is_clean() {
        let fields: Vec<String> = review.refused.iter().map(|(f, _)| f.clone()).collect();
        review::restore(doc, &before, &fields).map_err(|e| MergeError::Apply(e.to_string()))?;
        after = hydrate_root(doc)?;
    }
    Ok(Merged {
        heads_before,
        added,
        after,
        review,
    })
}

fn hydrate_root(doc: &AutoCommit) -> Result<hydrate::Value, MergeError> {
    doc.hydrate(ROOT, None)
        .map_err(|e| MergeError::Apply(e.to_string()))
}

/// Roughly the bytes a document's content takes: its text and keys, and a word per value.
pub fn weight(v: &hydrate::Value) -> usize {
    match v {
        hydrate::Value::Scalar(automerge::ScalarValue::Str(s)) => s.len(),
        hydrate::Value::Scalar(automerge::ScalarValue::Bytes(b)) => b.len(),
        hydrate::Value::Scalar(_) => 8,
        hydrate::Value::Text(t) => t.to_string().len(),
        hydrate::Value::Map(m) => m.iter().map(|(k, v)| k.len() + weight(&v.value)).sum(),
        hydrate::Value::List(l) => l.iter().map(|v| 8 + weight(&v.value)).sum(),
    }
}

/// The next message for a peer, if the document has anything it lacks. What the peer told of
/// itself earlier (its bloom filter of the changes it has) is read here, so a hostile peer can
/// make this panic inside automerge (the fuzzer found a zero-sized filter): that is an error
/// for this peer's connection, never a crash.
pub fn generate(
    doc: &mut AutoCommit,
    state: &mut sync::State,
) -> Result<Option<Vec<u8>>, MergeError> {
    catch_unwind(AssertUnwindSafe(|| {
        doc.sync().generate_sync_message(state).map(|m| m.encode())
    }))
    .map_err(|_| MergeError::Panicked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{self, Value};
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ObjType};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn server_doc() -> Result<AutoCommit, Box<dyn std::error::Error>> {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(b"server".as_slice()));
        fields::write(
            &mut doc,
            &[
                ("status", Value::Text("dispatched".into())),
                ("feedback", Value::Text(String::new())),
                ("on_site_note", Value::Text(String::new())),
                ("colour", Value::Text("red".into())),
            ],
        )?;
        Ok(doc)
    }

    /// [`receive`] of a task document's message from a place worker's phone, within `limits`.
    fn take(
        server: &mut AutoCommit,
        state: &mut sync::State,
        changes: usize,
        data: &[u8],
        limits: &Limits,
    ) -> Result<(Merged, Pending), MergeError> {
        let grant = crate::access::open_task(crate::access::Relation::PlaceWorker);
        receive(server, state, changes, DocKind::Task, grant, data, limits)
    }

    /// Runs the sync protocol between a phone and the server until neither has anything to say,
    /// the server taking the phone's messages through [`receive`].
    fn sync_through(
        server: &mut AutoCommit,
        phone: &mut AutoCommit,
        grant: Grant,
    ) -> Result<Vec<Merged>, MergeError> {
        let (mut ss, mut ps) = (sync::State::new(), sync::State::new());
        let mut changes = server.get_changes(&[]).len();
        let mut merged = Vec::new();
        for _ in 0..10 {
            let mut quiet = true;
            if let Some(m) = phone.sync().generate_sync_message(&mut ps) {
                quiet = false;
                let (m, pending) = receive(
                    server,
                    &mut ss,
                    changes,
                    DocKind::Task,
                    grant,
                    &m.encode(),
                    &Limits::default(),
                )?;
                pending.keep(server, &mut ss, &mut changes);
                merged.push(m);
            }
            if let Some(m) = server.sync().generate_sync_message(&mut ss) {
                quiet = false;
                phone
                    .sync()
                    .receive_sync_message(&mut ps, m)
                    .map_err(|e| MergeError::Apply(e.to_string()))?;
            }
            if quiet {
                break;
            }
        }
        Ok(merged)
    }

    #[test]
    fn an_allowed_edit_is_taken_and_a_refused_one_put_back() -> TestResult {
        let mut server = server_doc()?;
        let mut phone = server.fork();
        let note = phone.put_object(ROOT, "on_site_note", ObjType::Text)?;
        phone.splice_text(&note, 0, 0, "三楼楼道")?;
        let colour = phone.put_object(ROOT, "colour", ObjType::Text)?;
        phone.splice_text(&colour, 0, 0, "blue")?;
        phone.commit();
        let merged = sync_through(
            &mut server,
            &mut phone,
            crate::access::open_task(crate::access::Relation::PlaceWorker),
        )?;
        let review = merged
            .iter()
            .find(|m| m.added > 0)
            .map(|m| m.review.clone())
            .ok_or("no change arrived")?;
        assert!(review.accepted.contains("on_site_note"));
        assert_eq!(review.refused.len(), 1);
        assert_eq!(review.refused[0].0, "colour");
        for doc in [&server, &phone] {
            let state = doc.hydrate(ROOT, None)?;
            assert_eq!(fields::read_text(&state, "colour").as_deref(), Some("red"));
            assert_eq!(
                fields::read_text(&state, "on_site_note").as_deref(),
                Some("三楼楼道")
            );
        }
        Ok(())
    }

    #[test]
    fn a_bad_message_leaves_the_document_as_it_was() -> TestResult {
        let mut server = server_doc()?;
        let heads = server.get_heads();
        let mut state = sync::State::new();
        for data in [b"garbage".as_slice(), &[0x42, 0xff, 0xff, 0xff]] {
            let e = take(&mut server, &mut state, 1, data, &Limits::default());
            assert!(matches!(e, Err(MergeError::Decode(_))), "{:?}", e.err());
        }
        assert_eq!(server.get_heads(), heads);
        Ok(())
    }

    #[test]
    fn limits_on_changes_and_size_refuse_the_whole_message() -> TestResult {
        let mut server = server_doc()?;
        let heads = server.get_heads();
        let mut phone = server.fork();
        let note = phone.put_object(ROOT, "on_site_note", ObjType::Text)?;
        phone.splice_text(&note, 0, 0, &"很长的记录".repeat(10_000))?;
        phone.commit();
        let mut ps = sync::State::new();
        let mut ss = sync::State::new();
        let mut changes = server.get_changes(&[]).len();
        let small = Limits {
            doc_bytes: 10_000,
            ..Limits::default()
        };
        // The first messages only exchange heads; send until the change itself is refused.
        let mut refused = None;
        for _ in 0..5 {
            if let Some(m) = phone.sync().generate_sync_message(&mut ps) {
                match take(&mut server, &mut ss, changes, &m.encode(), &small) {
                    Ok((_, pending)) => pending.keep(&mut server, &mut ss, &mut changes),
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            if let Some(m) = server.sync().generate_sync_message(&mut ss) {
                phone
                    .sync()
                    .receive_sync_message(&mut ps, m)
                    .map_err(|e| e.to_string())?;
            }
        }
        assert!(
            matches!(refused, Some(MergeError::TooLarge { .. })),
            "{refused:?}"
        );
        assert_eq!(server.get_heads(), heads);
        Ok(())
    }

    #[test]
    fn a_merge_not_kept_leaves_the_document_and_is_taken_when_sent_again() -> TestResult {
        let mut server = server_doc()?;
        let heads = server.get_heads();
        let mut phone = server.fork();
        let note = phone.put_object(ROOT, "on_site_note", ObjType::Text)?;
        phone.splice_text(&note, 0, 0, "写入失败")?;
        phone.commit();
        let grant = crate::access::open_task(crate::access::Relation::PlaceWorker);
        let (mut ss, mut ps) = (sync::State::new(), sync::State::new());
        let changes = server.get_changes(&[]).len();
        // Until the phone's change arrives; its write then fails, so it is not kept.
        let mut carried = false;
        for _ in 0..4 {
            if let Some(m) = phone.sync().generate_sync_message(&mut ps) {
                let (merged, mut pending) = take(
                    &mut server,
                    &mut ss,
                    changes,
                    &m.encode(),
                    &Limits::default(),
                )?;
                if merged.added > 0 {
                    assert!(!pending.save_after(&merged.heads_before).is_empty());
                    carried = true;
                    break;
                }
                pending.keep(&mut server, &mut ss, &mut 0);
            }
            if let Some(m) = server.sync().generate_sync_message(&mut ss) {
                phone
                    .sync()
                    .receive_sync_message(&mut ps, m)
                    .map_err(|e| e.to_string())?;
            }
        }
        assert!(carried, "the change never arrived");
        assert_eq!(
            server.get_heads(),
            heads,
            "a merge not kept is in the document"
        );
        let state = server.hydrate(ROOT, None)?;
        assert_eq!(
            fields::read_text(&state, "on_site_note").as_deref(),
            Some("")
        );
        // The connection closes on the failure; the phone's next connection sends it again.
        let merged = sync_through(&mut server, &mut phone, grant)?;
        assert!(merged.iter().any(|m| m.added > 0));
        let state = server.hydrate(ROOT, None)?;
        assert_eq!(
            fields::read_text(&state, "on_site_note").as_deref(),
            Some("写入失败")
        );
        Ok(())
    }
}
