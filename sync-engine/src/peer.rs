//! One sync connection's gate: the handshake, and the check that a peer may see a document
//! before anything it sends for that document is parsed.
//!
//! The gate knows nothing of transports or storage. It reads a frame and says what to do: answer
//! the peer, hand an authorized sync message to the document engine, relay a passing message, or
//! close. A document the peer may not see is answered exactly as one that does not exist.

use std::collections::HashMap;

use crate::docid::DocumentId;
use crate::protocol::{Message, PROTOCOL_VERSION, PeerMetadata};

/// Whether the peer of a connection may sync a document; decided from its token, before the
/// document is loaded or the peer's bytes for it are read.
pub trait Access {
    fn may_sync(&self, document: DocumentId) -> bool;
}

/// What the connection should do with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this to the peer.
    Reply(Message),
    /// An automerge sync message for a document the peer may see; `requested` when the peer has
    /// no copy and wants `doc-unavailable` if the server has none either.
    Sync {
        document: DocumentId,
        data: Vec<u8>,
        requested: bool,
    },
    /// Pass on to the other peers of the document.
    Relay(Message),
    /// Tell the peer why and close the connection.
    Close { reason: String },
    /// Nothing to do: a repeat, or a type the server does not act on.
    Nothing,
}

/// The state of one connection.
pub struct Gate<A> {
    server_id: String,
    server_metadata: PeerMetadata,
    limit: usize,
    access: A,
    remote: Option<String>,
    /// The last ephemeral count seen per (sender, session): clients send relayed messages
    /// straight back, so a relay that does not drop repeats loops.
    ephemeral: HashMap<(String, String), u64>,
    /// Ephemeral messages the server sent this peer, for their `count`.
    notices: u64,
}

impl<A: Access> Gate<A> {
    /// A gate for a new connection; `limit` is the largest frame read.
    pub fn new(server_id: String, server_metadata: PeerMetadata, limit: usize, access: A) -> Self {
        Self {
            server_id,
            server_metadata,
            limit,
            access,
            remote: None,
            ephemeral: HashMap::new(),
            notices: 0,
        }
    }

    /// The peer's access, to add documents found to be allowed after the gate was made.
    pub fn access_mut(&mut self) -> &mut A {
        &mut self.access
    }

    /// An ephemeral message from the server telling the peer why its edits of `document` were
    /// put back: `{"type": "refused", "fields": [{"field", "reason"}]}`, which the JS client
    /// hands to the document's `ephemeral-message` listeners.
    pub fn refused(&mut self, document: DocumentId, fields: &[(String, String)]) -> Message {
        #[derive(serde::Serialize)]
        struct Field<'a> {
            field: &'a str,
            reason: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Refused<'a> {
            r#type: &'static str,
            fields: Vec<Field<'a>>,
        }
        let body = Refused {
            r#type: "refused",
            fields: fields
                .iter()
                .map(|(field, reason)| Field { field, reason })
                .collect(),
        };
        let mut data = Vec::new();
        // Writing CBOR into a Vec cannot fail.
        let _ = ciborium::into_writer(&body, &mut data);
        self.notices += 1;
        Message::Ephemeral {
            sender_id: self.server_id.clone(),
            target_id: self.remote.clone().unwrap_or_default(),
            document_id: document,
            session_id: self.server_id.clone(),
            count: self.notices,
            data,
        }
    }

    /// The `error` message the server sends before it closes the connection.
    pub fn error(&self, why: &str) -> Message {
        Message::Error {
            sender_id: self.server_id.clone(),
            message: why.to_owned(),
        }
    }

    /// The peer's id, once it has joined.
    pub fn remote(&self) -> Option<&str> {
        self.remote.as_deref()
    }

    /// The answer to a peer asking for a document it may not see, or that does not exist: the
    /// same bytes either way.
    pub fn unavailable(&self, document: DocumentId) -> Message {
        Message::DocUnavailable {
            sender_id: self.server_id.clone(),
            target_id: self.remote.clone().unwrap_or_default(),
            document_id: document,
        }
    }

    /// A sync message from the server's side of a document to this peer.
    pub fn sync(&self, document: DocumentId, data: Vec<u8>) -> Message {
        Message::Sync {
            sender_id: self.server_id.clone(),
            target_id: self.remote.clone().unwrap_or_default(),
            document_id: document,
            data,
        }
    }

    /// Reads one binary frame.
    pub fn receive(&mut self, frame: &[u8]) -> Action {
        let message = match Message::decode(frame, self.limit) {
            Ok(m) => m,
            Err(e) => {
                return Action::Close {
                    reason: e.to_string(),
                };
            }
        };
        let Some(remote) = self.remote.clone() else {
            return self.join(message);
        };
        match message {
            Message::Join { sender_id, .. } if sender_id == remote => self.close("joined twice"),
            Message::Join { .. } => self.close("a connection serves one peer"),
            Message::Request { sender_id, .. }
            | Message::Sync { sender_id, .. }
            | Message::Ephemeral { sender_id, .. }
            | Message::DocUnavailable { sender_id, .. }
                if sender_id != remote =>
            {
                self.close("message from another peer than the one that joined")
            }
            Message::Request {
                document_id, data, ..
            } => self.authorized(document_id, data, true),
            Message::Sync {
                document_id, data, ..
            } => self.authorized(document_id, data, false),
            Message::Ephemeral {
                sender_id,
                document_id,
                session_id,
                count,
                data,
                ..
            } => {
                if !self.access.may_sync(document_id) {
                    return Action::Reply(self.unavailable(document_id));
                }
                let key = (sender_id.clone(), session_id.clone());
                if self.ephemeral.get(&key).is_some_and(|&last| count <= last) {
                    return Action::Nothing;
                }
                self.ephemeral.insert(key, count);
                Action::Relay(Message::Ephemeral {
                    sender_id,
                    target_id: String::new(),
                    document_id,
                    session_id,
                    count,
                    data,
                })
            }
            Message::Error { message, .. } => Action::Close {
                reason: format!("the peer reported an error: {message}"),
            },
            // The peer has no copy either, a peer's own handshake answer, or a type the server
            // does not act on.
            Message::DocUnavailable { .. } | Message::Peer { .. } | Message::Other { .. } => {
                Action::Nothing
            }
        }
    }

    fn join(&mut self, message: Message) -> Action {
        let Message::Join {
            sender_id,
            versions,
            ..
        } = message
        else {
            return self.close("the first message must be join");
        };
        // The JavaScript server takes a join without versions as version 1; so does this one.
        if !versions.is_empty() && !versions.iter().any(|v| v == PROTOCOL_VERSION) {
            return self.close("unsupported protocol version");
        }
        if sender_id.is_empty() || sender_id.len() > 200 {
            return self.close("a peer id of 1 to 200 characters");
        }
        self.remote = Some(sender_id.clone());
        Action::Reply(Message::Peer {
            sender_id: self.server_id.clone(),
            target_id: sender_id,
            metadata: self.server_metadata.clone(),
            version: PROTOCOL_VERSION.to_owned(),
        })
    }

    fn authorized(&self, document: DocumentId, data: Vec<u8>, requested: bool) -> Action {
        if !self.access.may_sync(document) {
            // Not a byte of `data` is read for a document the peer may not see.
            return Action::Reply(self.unavailable(document));
        }
        Action::Sync {
            document,
            data,
            requested,
        }
    }

    fn close(&self, reason: &str) -> Action {
        Action::Close {
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    struct Allowed(HashSet<DocumentId>);

    impl Access for Allowed {
        fn may_sync(&self, document: DocumentId) -> bool {
            self.0.contains(&document)
        }
    }

    fn gate(allowed: &[DocumentId]) -> Gate<Allowed> {
        Gate::new(
            "gridwing".into(),
            PeerMetadata {
                storage_id: Some("server-storage".into()),
                is_ephemeral: Some(false),
            },
            1 << 20,
            Allowed(allowed.iter().copied().collect()),
        )
    }

    fn join(peer: &str, versions: &[&str]) -> Vec<u8> {
        Message::Join {
            sender_id: peer.into(),
            metadata: PeerMetadata::default(),
            versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        }
        .encode()
    }

    fn sync(peer: &str, doc: DocumentId, data: &[u8], request: bool) -> Vec<u8> {
        let (sender_id, target_id, document_id, data) =
            (peer.to_owned(), "gridwing".to_owned(), doc, data.to_vec());
        if request {
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
        } else {
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            }
        }
        .encode()
    }

    #[test]
    fn the_handshake_answers_with_the_servers_id_and_version() {
        let mut g = gate(&[]);
        let answer = g.receive(&join("phone-1", &["1"]));
        assert_eq!(
            answer,
            Action::Reply(Message::Peer {
                sender_id: "gridwing".into(),
                target_id: "phone-1".into(),
                metadata: PeerMetadata {
                    storage_id: Some("server-storage".into()),
                    is_ephemeral: Some(false)
                },
                version: "1".into(),
            })
        );
        assert_eq!(g.remote(), Some("phone-1"));
    }

    #[test]
    fn anything_but_a_supported_join_first_closes() {
        let doc = DocumentId::new_random();
        assert!(matches!(
            gate(&[doc]).receive(&sync("p", doc, b"x", false)),
            Action::Close { .. }
        ));
        assert_eq!(
            gate(&[]).receive(&join("p", &["2"])),
            Action::Close {
                reason: "unsupported protocol version".into()
            }
        );
        assert!(matches!(
            gate(&[]).receive(b"\xff\x00garbage"),
            Action::Close { .. }
        ));
    }

    #[test]
    fn a_document_not_allowed_looks_missing_and_its_bytes_are_never_handed_on() {
        let (mine, theirs) = (DocumentId::new_random(), DocumentId::new_random());
        let mut g = gate(&[mine]);
        g.receive(&join("p", &["1"]));
        // Garbage as the sync payload: for a document not allowed it must not even be looked at.
        let refused = g.receive(&sync("p", theirs, b"\x00not automerge", true));
        assert_eq!(refused, Action::Reply(g.unavailable(theirs)));
        assert_eq!(
            g.receive(&sync("p", theirs, b"junk", false)),
            refused,
            "a sync for it gets the same answer as a request"
        );
        assert_eq!(
            g.receive(&sync("p", mine, b"bytes", false)),
            Action::Sync {
                document: mine,
                data: b"bytes".to_vec(),
                requested: false
            }
        );
    }

    #[test]
    fn a_peer_cannot_speak_for_another() {
        let doc = DocumentId::new_random();
        let mut g = gate(&[doc]);
        g.receive(&join("p", &["1"]));
        assert!(matches!(
            g.receive(&sync("someone-else", doc, b"x", false)),
            Action::Close { .. }
        ));
    }

    #[test]
    fn repeated_ephemeral_messages_are_dropped() {
        let doc = DocumentId::new_random();
        let mut g = gate(&[doc]);
        g.receive(&join("p", &["1"]));
        let cursor = |count| {
            Message::Ephemeral {
                sender_id: "p".into(),
                target_id: "gridwing".into(),
                document_id: doc,
                session_id: "s1".into(),
                count,
                data: vec![0xa0],
            }
            .encode()
        };
        assert!(matches!(
            g.receive(&cursor(1)),
            Action::Relay(Message::Ephemeral { .. })
        ));
        assert_eq!(
            g.receive(&cursor(1)),
            Action::Nothing,
            "the echo of a relayed message"
        );
        assert!(matches!(
            g.receive(&cursor(2)),
            Action::Relay(Message::Ephemeral { .. })
        ));
    }
}
