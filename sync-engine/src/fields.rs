//! Reading and writing top-level fields in the shapes the JS client uses: strings as automerge
//! text, lists of strings, maps of strings. The server writes the fields it owns from its rows
//! only where they differ, so a document that already agrees gets no change at all.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, hydrate};

/// A field's value in one of the shapes the server writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Texts(Vec<String>),
    Strings(BTreeMap<String, String>),
}

/// The value of a top-level field of a hydrated document, if it has one of the shapes.
pub fn read(doc: &hydrate::Value, field: &str) -> Option<Value> {
    let hydrate::Value::Map(m) = doc else {
        return None;
    };
    match m.get(field)? {
        hydrate::Value::List(l) => l
            .iter()
            .map(|v| text(&v.value))
            .collect::<Option<Vec<_>>>()
            .map(Value::Texts),
        hydrate::Value::Map(m) => m
            .iter()
            .map(|(k, v)| text(&v.value).map(|t| (k.clone(), t)))
            .collect::<Option<BTreeMap<_, _>>>()
            .map(Value::Strings),
        v => text(v).map(Value::Text),
    }
}

/// The text of a top-level field, or None when it is absent or not text.
pub fn read_text(doc: &hydrate::Value, field: &str) -> Option<String> {
    match read(doc, field)? {
        Value::Text(t) => Some(t),
        _ => None,
    }
}

/// The strings of a top-level list field.
pub fn read_texts(doc: &hydrate::Value, field: &str) -> Option<Vec<String>> {
    match read(doc, field)? {
        Value::Texts(t) => Some(t),
        _ => None,
    }
}

fn text(v: &hydrate::Value) -> Option<String> {
    match v {
        hydrate::Value::Text(t) => Some(t.to_string()),
        hydrate::Value::Scalar(ScalarValue::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

/// Writes each field whose value differs, as one change of `doc`'s actor; true when anything was
/// written. Text is updated in place (a minimal edit), so a concurrent edit of the same text by a
/// peer merges instead of being replaced.
pub fn write(doc: &mut AutoCommit, fields: &[(&str, Value)]) -> Result<bool, AutomergeError> {
    let current = doc.hydrate(ROOT, None)?;
    let mut wrote = false;
    for (field, want) in fields {
        if read(&current, field).as_ref() == Some(want) {
            continue;
        }
        wrote = true;
        match want {
            Value::Text(s) => match doc.get(ROOT, *field)? {
                Some((automerge::Value::Object(ObjType::Text), id)) => doc.update_text(&id, s)?,
                _ => put_text(doc, &ROOT, field, s)?,
            },
            Value::Texts(items) => {
                let list = doc.put_object(ROOT, *field, ObjType::List)?;
                for (i, s) in items.iter().enumerate() {
                    let t = doc.insert_object(&list, i, ObjType::Text)?;
                    doc.splice_text(&t, 0, 0, s)?;
                }
            }
            Value::Strings(map) => {
                let obj = doc.put_object(ROOT, *field, ObjType::Map)?;
                for (k, s) in map {
                    put_text(doc, &obj, k, s)?;
                }
            }
        }
    }
    if wrote {
        doc.commit();
    }
    Ok(wrote)
}

fn put_text(doc: &mut AutoCommit, obj: &ObjId, key: &str, s: &str) -> Result<(), AutomergeError> {
    let t = doc.put_object(obj, key, ObjType::Text)?;
    doc.splice_text(&t, 0, 0, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn writes_only_what_differs_and_reads_it_back() -> TestResult {
        let mut doc = AutoCommit::new();
        let fields = [
            ("status", Value::Text("dispatched".into())),
            ("photos", Value::Texts(vec!["ab".into(), "cd".into()])),
            (
                "deadlines",
                Value::Strings(BTreeMap::from([("sign".into(), "08:01".into())])),
            ),
        ];
        assert!(write(&mut doc, &fields)?);
        let heads = doc.get_heads();
        assert!(!write(&mut doc, &fields)?, "nothing differs");
        assert_eq!(doc.get_heads(), heads, "and no change was made");
        let state = doc.hydrate(ROOT, None)?;
        for (field, want) in &fields {
            assert_eq!(read(&state, field).as_ref(), Some(want));
        }
        assert!(write(
            &mut doc,
            &[("status", Value::Text("signed".into()))]
        )?);
        assert_eq!(
            read_text(&doc.hydrate(ROOT, None)?, "status").as_deref(),
            Some("signed")
        );
        Ok(())
    }

    #[test]
    fn a_server_text_update_merges_with_a_peer_edit() -> TestResult {
        let mut server = AutoCommit::new();
        write(&mut server, &[("feedback", Value::Text("已清理".into()))])?;
        let mut phone = server.fork();
        let id = match phone.get(ROOT, "feedback")? {
            Some((_, id)) => id,
            None => return Err("no feedback".into()),
        };
        phone.splice_text(&id, 3, 0, "完毕")?;
        phone.commit();
        write(
            &mut server,
            &[("feedback", Value::Text("楼道已清理".into()))],
        )?;
        server.merge(&mut phone)?;
        assert_eq!(
            read_text(&server.hydrate(ROOT, None)?, "feedback").as_deref(),
            Some("楼道已清理完毕")
        );
        Ok(())
    }
}
