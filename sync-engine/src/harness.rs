//! The server's handling of one peer's bytes, end to end and without a network: the gate, then
//! the merge into a task document. The fuzz target (`fuzz/`) and the regression tests of the
//! inputs it found call the same function, so a crash found once stays tested.

use automerge::sync;
use automerge::{ActorId, AutoCommit};

use crate::DocKind;
use crate::docid::DocumentId;
use crate::fields::{self, Value};
use crate::merge::{self, Limits};
use crate::peer::{Access, Action, Gate};
use crate::protocol::{Message, PeerMetadata};

/// The document the harness's peer may sync.
pub const DOCUMENT: DocumentId = DocumentId::from_bytes([7; 16]);

struct One;

impl Access for One {
    fn may_sync(&self, document: DocumentId) -> bool {
        document == DOCUMENT
    }
}

/// A task document as the server first writes it.
pub fn task_document() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(b"server".as_slice()));
    // Writing fresh fields into an empty document cannot fail.
    let _ = fields::write(
        &mut doc,
        &[
            ("status", Value::Text("dispatched".into())),
            ("colour", Value::Text("red".into())),
            ("feedback", Value::Text(String::new())),
            ("on_site_note", Value::Text(String::new())),
            ("photos", Value::List(Vec::new())),
        ],
    );
    doc
}

/// The join a peer sends first.
pub fn join() -> Vec<u8> {
    Message::Join {
        sender_id: "peer".into(),
        metadata: PeerMetadata::default(),
        versions: vec!["1".into()],
    }
    .encode()
}

/// Feeds `input` to the server side of one connection. The first byte picks what the rest is:
/// 0, websocket frames (each prefixed by its length, two bytes big-endian) after a join; 1, the
/// automerge sync payload of a message for the allowed document. Whatever the input, this must
/// return without panicking, and a refused message must leave the document as it was.
pub fn feed(input: &[u8]) {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let mut doc = task_document();
    let mut state = sync::State::new();
    let mut changes = 1;
    let limits = Limits {
        inflated_bytes: 1 << 20,
        doc_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut merge_one = |data: &[u8]| {
        let heads = doc.get_heads();
        match merge::receive(
            &mut doc,
            &mut state,
            changes,
            DocKind::Task,
            crate::access::Grant::of(
                DocKind::Task,
                &[crate::access::Relation::PlaceWorker],
                crate::access::Phase::Open,
            ),
            data,
            &limits,
        ) {
            Ok((_, pending)) => pending.keep(&mut doc, &mut state, &mut changes),
            Err(_) => assert_eq!(
                doc.get_heads(),
                heads,
                "a refused message changed the document"
            ),
        }
        // A peer's state that breaks generation is an error, not a panic.
        let _ = merge::generate(&mut doc, &mut state);
    };
    if mode % 2 == 1 {
        merge_one(rest);
        return;
    }
    let mut gate = Gate::new("server".into(), PeerMetadata::default(), 1 << 20, One);
    let _ = gate.receive(&join());
    let mut rest = rest;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (frame, tail) = rest[2..].split_at(n);
        rest = tail;
        match gate.receive(frame) {
            Action::Sync { data, .. } => merge_one(&data),
            Action::Close { .. } => return,
            _ => {}
        }
    }
}

/// Inputs that exercise the real paths: a sync exchange with a phone's edit, in both modes.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut server = task_document();
    let mut phone = server.fork();
    let _ = fields::write(&mut phone, &[("on_site_note", Value::Text("三楼".into()))]);
    let mut ps = sync::State::new();
    let mut ss = sync::State::new();
    let mut seeds = Vec::new();
    let mut frames = vec![0u8];
    use automerge::sync::SyncDoc;
    for _ in 0..4 {
        if let Some(m) = phone.sync().generate_sync_message(&mut ps) {
            let data = m.encode();
            let mut one = vec![1u8];
            one.extend(&data);
            seeds.push(one);
            let frame = Message::Sync {
                sender_id: "peer".into(),
                target_id: "server".into(),
                document_id: DOCUMENT,
                data,
            }
            .encode();
            if let Ok(n) = u16::try_from(frame.len()) {
                frames.extend(n.to_be_bytes());
                frames.extend(frame);
            }
            if let Ok(m) = sync::Message::decode(&seeds[seeds.len() - 1][1..]) {
                let _ = server.sync().receive_sync_message(&mut ss, m);
            }
        }
        if let Some(m) = server.sync().generate_sync_message(&mut ss) {
            let _ = phone.sync().receive_sync_message(&mut ps, m);
        }
    }
    seeds.push(frames);
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_run_and_merge() {
        let seeds = seeds();
        assert!(seeds.len() >= 3, "{}", seeds.len());
        for s in &seeds {
            feed(s);
        }
    }

    /// Every input the fuzzer ever broke the server with, kept under `fuzz/regressions/`.
    #[test]
    fn inputs_the_fuzzer_found_still_pass() -> Result<(), std::io::Error> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
        let mut n = 0;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "bin") {
                feed(&std::fs::read(&path)?);
                n += 1;
            }
        }
        assert!(n > 0, "no regression inputs found");
        Ok(())
    }
}
