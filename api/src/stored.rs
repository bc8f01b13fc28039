//! Reading what the database keeps as text: enum names and JSON documents.
//!
//! A value this version does not know is a corrupt row (written by hand, by a broken migration or
//! by a newer version). It is an error, reported as an internal one, and never read as some
//! valid-looking default: a task whose status cannot be read must not be handled as `reported`,
//! nor a reward of an unknown kind sold as goods.

use serde::de::DeserializeOwned;

/// A stored value that is not one this version knows.
#[derive(Debug, thiserror::Error)]
#[error("stored {what} {value:?} cannot be read")]
pub struct Corrupt {
    /// What the value is (`event status`, `reward kind`), for the log.
    pub what: &'static str,
    /// The value as stored, cut short when long.
    pub value: String,
}

impl Corrupt {
    /// A corrupt `what` holding `value`.
    pub fn new(what: &'static str, value: &str) -> Self {
        const SHOWN: usize = 80;
        let value = match value.char_indices().nth(SHOWN) {
            Some((end, _)) => format!("{}…", &value[..end]),
            None => value.to_owned(),
        };
        Self { what, value }
    }
}

/// The variant of `all` whose stored name (`name`) is `raw`.
pub fn lookup<T: Copy>(
    what: &'static str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    raw: &str,
) -> Result<T, Corrupt> {
    all.iter()
        .copied()
        .find(|v| name(*v) == raw)
        .ok_or_else(|| Corrupt::new(what, raw))
}

/// A JSON document stored in a text column.
pub fn json<T: DeserializeOwned>(what: &'static str, raw: &str) -> Result<T, Corrupt> {
    serde_json::from_str(raw).map_err(|_| Corrupt::new(what, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fruit {
        Apple,
        Pear,
    }

    fn name(f: Fruit) -> &'static str {
        match f {
            Fruit::Apple => "apple",
            Fruit::Pear => "pear",
        }
    }

    #[test]
    fn a_known_name_reads_and_an_unknown_one_is_corrupt() {
        let all = [Fruit::Apple, Fruit::Pear];
        assert_eq!(lookup("fruit", &all, name, "pear").ok(), Some(Fruit::Pear));
        let e = lookup("fruit", &all, name, "Pear").err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("stored fruit \"Pear\" cannot be read")
        );
    }

    #[test]
    fn a_long_corrupt_value_is_cut_short_for_the_log() {
        let e = Corrupt::new("doc", &"字".repeat(500));
        assert_eq!(e.value.chars().count(), 81);
    }

    #[test]
    fn broken_json_is_corrupt() {
        assert!(json::<Vec<String>>("scopes", "[\"a\"").is_err());
        assert_eq!(
            json::<Vec<String>>("scopes", "[\"a\"]").ok(),
            Some(vec!["a".to_owned()])
        );
    }
}
