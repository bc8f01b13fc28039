//! The automerge-repo websocket protocol as the JavaScript client speaks it: one CBOR map per
//! binary frame, told apart by its `type`.
//!
//! Decoding is strict about what the server acts on (a `sync` without a document id is refused
//! with the reason) and lenient where the client is (map headers that are not the shortest
//! form, `undefined` for an absent storage id, key order, fields the server does not use).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::docid::DocumentId;

/// The one protocol version there is.
pub const PROTOCOL_VERSION: &str = "1";

/// What a peer tells of itself on joining.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_ephemeral: Option<bool>,
}

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client → server, first: who it is and which versions it speaks.
    Join {
        sender_id: String,
        metadata: PeerMetadata,
        versions: Vec<String>,
    },
    /// Server → client, the answer to `join`.
    Peer {
        sender_id: String,
        target_id: String,
        metadata: PeerMetadata,
        version: String,
    },
    /// The sender has no copy of the document and asks for it; `data` is a sync message.
    Request {
        sender_id: String,
        target_id: String,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// An automerge sync message for one document.
    Sync {
        sender_id: String,
        target_id: String,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// The answer to a `request` for a document the sender does not have, or may not share.
    DocUnavailable {
        sender_id: String,
        target_id: String,
        document_id: DocumentId,
    },
    /// Presence and other passing messages; relayed, never stored.
    Ephemeral {
        sender_id: String,
        target_id: String,
        document_id: DocumentId,
        session_id: String,
        count: u64,
        data: Vec<u8>,
    },
    /// Something went wrong; the sender closes the connection after it.
    Error { sender_id: String, message: String },
    /// A message type the server does not act on (`remote-heads-changed`, `leave`, …).
    Other { kind: String },
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("message of {size} bytes is larger than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not a CBOR map: {0}")]
    NotCbor(String),
    #[error("message without a type")]
    NoType,
    #[error("{kind} message without {field}")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
    #[error("malformed document id: {0}")]
    BadDocumentId(String),
}

/// Every field any message has; which ones must be present depends on the type.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sender_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peer_metadata: Option<PeerMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    supported_protocol_versions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    selected_protocol_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl Message {
    /// Reads one frame; the size is checked before a byte is parsed.
    pub fn decode(frame: &[u8], limit: usize) -> Result<Self, ProtocolError> {
        if frame.len() > limit {
            return Err(ProtocolError::TooLarge {
                size: frame.len(),
                limit,
            });
        }
        let wire: Wire =
            ciborium::from_reader(frame).map_err(|e| ProtocolError::NotCbor(e.to_string()))?;
        wire.into_message()
    }

    /// The frame of this message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail, and every field serialises.
        let _ = ciborium::into_writer(&Wire::from(self), &mut out);
        out
    }

    /// The document a message is about, if any.
    pub fn document_id(&self) -> Option<DocumentId> {
        match self {
            Message::Request { document_id, .. }
            | Message::Sync { document_id, .. }
            | Message::DocUnavailable { document_id, .. }
            | Message::Ephemeral { document_id, .. } => Some(*document_id),
            _ => None,
        }
    }
}

impl Wire {
    fn into_message(self) -> Result<Message, ProtocolError> {
        let kind = self.kind.clone().ok_or(ProtocolError::NoType)?;
        let need = |field: &'static str, kind: &'static str, v: Option<String>| {
            v.ok_or(ProtocolError::Missing { kind, field })
        };
        let doc = |kind: &'static str, v: Option<String>| -> Result<DocumentId, ProtocolError> {
            let text = v.ok_or(ProtocolError::Missing {
                kind,
                field: "documentId",
            })?;
            text.parse()
                .map_err(|_| ProtocolError::BadDocumentId(text.chars().take(64).collect()))
        };
        let data = |kind: &'static str, v: Option<ByteBuf>| {
            v.map(ByteBuf::into_vec).ok_or(ProtocolError::Missing {
                kind,
                field: "data",
            })
        };
        Ok(match kind.as_str() {
            "join" => Message::Join {
                sender_id: need("senderId", "join", self.sender_id)?,
                metadata: self.peer_metadata.unwrap_or_default(),
                versions: self.supported_protocol_versions.unwrap_or_default(),
            },
            "peer" => Message::Peer {
                sender_id: need("senderId", "peer", self.sender_id)?,
                target_id: need("targetId", "peer", self.target_id)?,
                metadata: self.peer_metadata.unwrap_or_default(),
                version: need(
                    "selectedProtocolVersion",
                    "peer",
                    self.selected_protocol_version,
                )?,
            },
            "request" => Message::Request {
                sender_id: need("senderId", "request", self.sender_id)?,
                target_id: need("targetId", "request", self.target_id)?,
                document_id: doc("request", self.document_id)?,
                data: data("request", self.data)?,
            },
            "sync" => Message::Sync {
                sender_id: need("senderId", "sync", self.sender_id)?,
                target_id: need("targetId", "sync", self.target_id)?,
                document_id: doc("sync", self.document_id)?,
                data: data("sync", self.data)?,
            },
            "doc-unavailable" => Message::DocUnavailable {
                sender_id: need("senderId", "doc-unavailable", self.sender_id)?,
                target_id: need("targetId", "doc-unavailable", self.target_id)?,
                document_id: doc("doc-unavailable", self.document_id)?,
            },
            "ephemeral" => Message::Ephemeral {
                sender_id: need("senderId", "ephemeral", self.sender_id)?,
                target_id: need("targetId", "ephemeral", self.target_id)?,
                document_id: doc("ephemeral", self.document_id)?,
                session_id: need("sessionId", "ephemeral", self.session_id)?,
                count: self.count.ok_or(ProtocolError::Missing {
                    kind: "ephemeral",
                    field: "count",
                })?,
                data: data("ephemeral", self.data)?,
            },
            "error" => Message::Error {
                sender_id: self.sender_id.unwrap_or_default(),
                message: self.message.unwrap_or_default(),
            },
            _ => Message::Other { kind },
        })
    }
}

impl From<&Message> for Wire {
    fn from(m: &Message) -> Self {
        let s = |v: &str| Some(v.to_owned());
        let bytes = |v: &[u8]| Some(ByteBuf::from(v.to_vec()));
        match m {
            Message::Join {
                sender_id,
                metadata,
                versions,
            } => Wire {
                kind: s("join"),
                sender_id: s(sender_id),
                peer_metadata: Some(metadata.clone()),
                supported_protocol_versions: Some(versions.clone()),
                ..Wire::default()
            },
            Message::Peer {
                sender_id,
                target_id,
                metadata,
                version,
            } => Wire {
                kind: s("peer"),
                sender_id: s(sender_id),
                target_id: s(target_id),
                peer_metadata: Some(metadata.clone()),
                selected_protocol_version: s(version),
                ..Wire::default()
            },
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
            | Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            } => Wire {
                kind: s(if matches!(m, Message::Request { .. }) {
                    "request"
                } else {
                    "sync"
                }),
                sender_id: s(sender_id),
                target_id: s(target_id),
                document_id: Some(document_id.to_string()),
                data: bytes(data),
                ..Wire::default()
            },
            Message::DocUnavailable {
                sender_id,
                target_id,
                document_id,
            } => Wire {
                kind: s("doc-unavailable"),
                sender_id: s(sender_id),
                target_id: s(target_id),
                document_id: Some(document_id.to_string()),
                ..Wire::default()
            },
            Message::Ephemeral {
                sender_id,
                target_id,
                document_id,
                session_id,
                count,
                data,
            } => Wire {
                kind: s("ephemeral"),
                sender_id: s(sender_id),
                target_id: s(target_id),
                document_id: Some(document_id.to_string()),
                session_id: s(session_id),
                count: Some(*count),
                data: bytes(data),
                ..Wire::default()
            },
            Message::Error { sender_id, message } => Wire {
                kind: s("error"),
                sender_id: s(sender_id),
                message: s(message),
                ..Wire::default()
            },
            Message::Other { kind } => Wire {
                kind: s(kind),
                ..Wire::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect()
    }

    const LIMIT: usize = 1 << 20;

    /// Frames as the JavaScript client's own encoder (cbor-x) writes them.
    const JOIN_NO_STORAGE: &str = "b900046474797065646a6f696e6873656e646572496466706565722d416c706565724d65746164617461b900026973746f726167654964f76b6973457068656d6572616cf57819737570706f7274656450726f746f636f6c56657273696f6e73816131";
    const REQUEST: &str = "b9000564747970656772657175657374687461726765744964637372766a646f63756d656e744964781c32796176414363734e437169546672424136574363313951696b4c5864646174614a420000010000000202846873656e646572496466706565722d41";

    #[test]
    fn reads_the_clients_join_with_an_undefined_storage_id() -> TestResult {
        let m = Message::decode(&hex(JOIN_NO_STORAGE), LIMIT)?;
        assert_eq!(
            m,
            Message::Join {
                sender_id: "peer-A".into(),
                metadata: PeerMetadata {
                    storage_id: None,
                    is_ephemeral: Some(true)
                },
                versions: vec!["1".into()],
            }
        );
        Ok(())
    }

    #[test]
    fn reads_the_clients_request_and_writes_it_back_the_same() -> TestResult {
        let m = Message::decode(&hex(REQUEST), LIMIT)?;
        let Message::Request {
            sender_id,
            target_id,
            document_id,
            data,
        } = &m
        else {
            return Err(format!("not a request: {m:?}").into());
        };
        assert_eq!((sender_id.as_str(), target_id.as_str()), ("peer-A", "srv"));
        assert_eq!(document_id.to_string(), "2yavACcsNCqiTfrBA6WCc19QikLX");
        assert_eq!(data, &hex("42000001000000020284"));
        assert_eq!(Message::decode(&m.encode(), LIMIT)?, m);
        Ok(())
    }

    #[test]
    fn refuses_with_the_reason() {
        let big = vec![0u8; 100];
        assert_eq!(
            Message::decode(&big, 10),
            Err(ProtocolError::TooLarge {
                size: 100,
                limit: 10
            })
        );
        assert!(matches!(
            Message::decode(b"not cbor at all", LIMIT),
            Err(ProtocolError::NotCbor(_))
        ));
        let no_doc = Message::Other {
            kind: "sync".into(),
        }
        .encode();
        assert_eq!(
            Message::decode(&no_doc, LIMIT),
            Err(ProtocolError::Missing {
                kind: "sync",
                field: "senderId"
            })
        );
        let mut wire = Wire {
            kind: Some("sync".into()),
            sender_id: Some("a".into()),
            target_id: Some("b".into()),
            document_id: Some("not-a-document".into()),
            data: Some(ByteBuf::from(vec![1])),
            ..Wire::default()
        };
        let mut frame = Vec::new();
        ciborium::into_writer(&wire, &mut frame).ok();
        assert!(matches!(
            Message::decode(&frame, LIMIT),
            Err(ProtocolError::BadDocumentId(_))
        ));
        wire.document_id = None;
        frame.clear();
        ciborium::into_writer(&wire, &mut frame).ok();
        assert_eq!(
            Message::decode(&frame, LIMIT),
            Err(ProtocolError::Missing {
                kind: "sync",
                field: "documentId"
            })
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        // {"x": [[[…]]]} 100,000 deep: a parser without a depth limit would overflow its stack
        // skipping the unknown field.
        let mut frame = vec![0xa1, 0x61, b'x'];
        frame.extend(std::iter::repeat_n(0x81u8, 100_000));
        frame.push(0x00);
        assert!(matches!(
            Message::decode(&frame, LIMIT),
            Err(ProtocolError::NotCbor(_))
        ));
    }
}
