//! Document ids as automerge-repo writes them: bs58check of 16 random bytes, in URLs after
//! `automerge:`.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// The URL scheme of a document.
pub const URL_PREFIX: &str = "automerge:";

/// One document's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(Uuid);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentIdError {
    #[error("not base58check")]
    NotBase58Check,
    #[error("{0} bytes where a document id has 16")]
    WrongLength(usize),
}

impl DocumentId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }

    pub fn uuid(self) -> Uuid {
        self.0
    }

    /// `automerge:<id>`, as clients pass documents around.
    pub fn url(self) -> String {
        format!("{URL_PREFIX}{self}")
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0.as_bytes()).with_check().into_string())
    }
}

impl FromStr for DocumentId {
    type Err = DocumentIdError;

    /// Takes the bare id or its `automerge:` URL.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix(URL_PREFIX).unwrap_or(s);
        // 16 bytes and a 4-byte checksum are at most 28 base58 digits; refuse longer before decoding.
        if s.len() > 32 {
            return Err(DocumentIdError::NotBase58Check);
        }
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|_| DocumentIdError::NotBase58Check)?;
        let raw: [u8; 16] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DocumentIdError::WrongLength(bytes.len()))?;
        Ok(Self(Uuid::from_bytes(raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_javascript_client_writes() -> Result<(), DocumentIdError> {
        let id: DocumentId = "2yavACcsNCqiTfrBA6WCc19QikLX".parse()?;
        assert_eq!(id.to_string(), "2yavACcsNCqiTfrBA6WCc19QikLX");
        assert_eq!(id.url().parse::<DocumentId>()?, id);
        let fresh = DocumentId::new_random();
        assert_eq!(fresh.to_string().parse::<DocumentId>()?, fresh);
        Ok(())
    }

    #[test]
    fn refuses_bad_checksums_lengths_and_junk() {
        assert_eq!(
            "2yavACcsNCqiTfrBA6WCc19QikLY".parse::<DocumentId>(),
            Err(DocumentIdError::NotBase58Check)
        );
        let short = bs58::encode([1u8, 2, 3]).with_check().into_string();
        assert_eq!(
            short.parse::<DocumentId>(),
            Err(DocumentIdError::WrongLength(3))
        );
        assert!("../../etc/passwd".parse::<DocumentId>().is_err());
        assert!("".parse::<DocumentId>().is_err());
    }
}
