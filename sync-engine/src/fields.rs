//! Reading and writing fields in the shapes the JS client uses: strings as automerge text,
//! integers, lists and maps of those. The server writes the fields it owns from its rows only
//! where they differ, and in place: a text is edited, a map's keys and a list's items are
//! written one by one, so what a peer changed concurrently elsewhere in the same field merges
//! instead of being replaced.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{
    AutoCommit, AutomergeError, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, hydrate,
};

/// A value in one of the shapes the server writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// Any other scalar a peer wrote (a boolean, a float, null …), kept as it is.
    Scalar(ScalarValue),
}

impl Value {
    /// A list of texts.
    pub fn texts(items: impl IntoIterator<Item = String>) -> Self {
        Value::List(items.into_iter().map(Value::Text).collect())
    }

    /// A map of texts.
    pub fn strings(items: impl IntoIterator<Item = (String, String)>) -> Self {
        Value::Map(
            items
                .into_iter()
                .map(|(k, v)| (k, Value::Text(v)))
                .collect(),
        )
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// The value of a top-level field of a hydrated document, if it has one.
pub fn read(doc: &hydrate::Value, field: &str) -> Option<Value> {
    match doc {
        hydrate::Value::Map(m) => m.get(field).map(of),
        _ => None,
    }
}

/// A hydrated value in the server's terms: text whether an object or a string scalar.
pub fn of(v: &hydrate::Value) -> Value {
    convert(v, true)
}

/// A hydrated value exactly as it is, string scalars staying scalars: to put a value back.
pub fn exact(v: &hydrate::Value) -> Value {
    convert(v, false)
}

fn convert(v: &hydrate::Value, str_as_text: bool) -> Value {
    match v {
        hydrate::Value::Text(t) => Value::Text(t.to_string()),
        hydrate::Value::Scalar(ScalarValue::Str(s)) if str_as_text => Value::Text(s.to_string()),
        hydrate::Value::Scalar(ScalarValue::Int(n)) => Value::Int(*n),
        hydrate::Value::Scalar(s) => Value::Scalar(s.clone()),
        hydrate::Value::List(l) => {
            Value::List(l.iter().map(|v| convert(&v.value, str_as_text)).collect())
        }
        hydrate::Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), convert(&v.value, str_as_text)))
                .collect(),
        ),
    }
}

/// The text of a top-level field, or None when it is absent or not text.
pub fn read_text(doc: &hydrate::Value, field: &str) -> Option<String> {
    match read(doc, field)? {
        Value::Text(t) => Some(t),
        _ => None,
    }
}

/// The texts of a top-level list field.
pub fn read_texts(doc: &hydrate::Value, field: &str) -> Option<Vec<String>> {
    match read(doc, field)? {
        Value::List(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Text(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Writes each field whose value differs, as one change of `doc`'s actor; true when anything was
/// written.
pub fn write(doc: &mut AutoCommit, fields: &[(&str, Value)]) -> Result<bool, AutomergeError> {
    let current = doc.hydrate(ROOT, None)?;
    for (field, want) in fields {
        if read(&current, field).as_ref() != Some(want) {
            write_at(doc, &ROOT, Prop::Map((*field).to_owned()), want)?;
        }
    }
    Ok(doc.commit().is_some())
}

/// Makes the top-level `field` equal `want`, in place, without committing: for a caller that
/// writes several fields (and deletions) as one change.
pub fn put_field(doc: &mut AutoCommit, field: &str, want: &Value) -> Result<(), AutomergeError> {
    write_at(doc, &ROOT, Prop::Map(field.to_owned()), want)
}

/// Makes the value at `prop` of `obj` equal `want`, keeping every object that already has the
/// right type and changing only what differs inside it.
fn write_at(
    doc: &mut AutoCommit,
    obj: &ObjId,
    prop: Prop,
    want: &Value,
) -> Result<(), AutomergeError> {
    let current = doc.get(obj, prop.clone())?;
    match (want, current) {
        (Value::Text(s), Some((automerge::Value::Object(ObjType::Text), id))) => {
            if doc.text(&id)? != *s {
                doc.update_text(&id, s)?;
            }
        }
        (Value::Int(n), Some((automerge::Value::Scalar(v), _)))
            if v.as_ref() == &ScalarValue::Int(*n) => {}
        (Value::Scalar(x), Some((automerge::Value::Scalar(v), _))) if v.as_ref() == x => {}
        (Value::Map(m), Some((automerge::Value::Object(ObjType::Map), id))) => {
            for (k, v) in m {
                write_at(doc, &id, Prop::Map(k.clone()), v)?;
            }
            let extra: Vec<String> = doc.keys(&id).filter(|k| !m.contains_key(k)).collect();
            for k in extra {
                doc.delete(&id, k.as_str())?;
            }
        }
        (Value::List(items), Some((automerge::Value::Object(ObjType::List), id))) => {
            let len = doc.length(&id);
            for (i, v) in items.iter().enumerate().take(len) {
                write_at(doc, &id, Prop::Seq(i), v)?;
            }
            for (i, v) in items.iter().enumerate().skip(len) {
                insert(doc, &id, i, v)?;
            }
            for i in (items.len()..len).rev() {
                doc.delete(&id, i)?;
            }
        }
        _ => put(doc, obj, prop, want)?,
    }
    Ok(())
}

/// Writes a fresh value at `prop`, replacing whatever was there.
fn put(doc: &mut AutoCommit, obj: &ObjId, prop: Prop, want: &Value) -> Result<(), AutomergeError> {
    let kind = match want {
        Value::Int(n) => return doc.put(obj, prop, *n),
        Value::Scalar(x) => return doc.put(obj, prop, x.clone()),
        Value::Text(_) => ObjType::Text,
        Value::List(_) => ObjType::List,
        Value::Map(_) => ObjType::Map,
    };
    let id = doc.put_object(obj, prop, kind)?;
    fill(doc, &id, want)
}

fn insert(
    doc: &mut AutoCommit,
    list: &ObjId,
    index: usize,
    want: &Value,
) -> Result<(), AutomergeError> {
    let kind = match want {
        Value::Int(n) => return doc.insert(list, index, *n),
        Value::Scalar(x) => return doc.insert(list, index, x.clone()),
        Value::Text(_) => ObjType::Text,
        Value::List(_) => ObjType::List,
        Value::Map(_) => ObjType::Map,
    };
    let id = doc.insert_object(list, index, kind)?;
    fill(doc, &id, want)
}

/// Writes the contents of `want` into the new, empty object `id`.
fn fill(doc: &mut AutoCommit, id: &ObjId, want: &Value) -> Result<(), AutomergeError> {
    match want {
        Value::Int(_) | Value::Scalar(_) => Ok(()),
        Value::Text(s) => doc.splice_text(id, 0, 0, s),
        Value::Map(m) => {
            for (k, v) in m {
                put(doc, id, Prop::Map(k.clone()), v)?;
            }
            Ok(())
        }
        Value::List(items) => {
            for (i, v) in items.iter().enumerate() {
                insert(doc, id, i, v)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn unit(number: &str, residents: &[&str]) -> Value {
        Value::Map(BTreeMap::from([
            ("number".to_owned(), Value::Text(number.into())),
            ("floor".to_owned(), Value::Int(3)),
            (
                "residents".to_owned(),
                Value::List(
                    residents
                        .iter()
                        .map(|n| Value::strings([("name".to_owned(), (*n).to_owned())]))
                        .collect(),
                ),
            ),
        ]))
    }

    #[test]
    fn writes_only_what_differs_and_reads_it_back() -> TestResult {
        let mut doc = AutoCommit::new();
        let fields = [
            ("status", Value::Text("dispatched".into())),
            ("photos", Value::texts(["ab".to_owned(), "cd".to_owned()])),
            (
                "deadlines",
                Value::strings([("sign".to_owned(), "08:01".to_owned())]),
            ),
            (
                "units",
                Value::List(vec![unit("301", &["王建国"]), unit("302", &[])]),
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
        let fewer = [("units", Value::List(vec![unit("301", &["王建国", "李梅"])]))];
        assert!(write(&mut doc, &fewer)?);
        assert_eq!(
            read(&doc.hydrate(ROOT, None)?, "units").as_ref(),
            Some(&fewer[0].1)
        );
        Ok(())
    }

    #[test]
    fn a_server_write_merges_with_a_peer_edit_elsewhere_in_the_field() -> TestResult {
        let mut server = AutoCommit::new();
        write(&mut server, &[("feedback", Value::Text("已清理".into()))])?;
        write(
            &mut server,
            &[(
                "units",
                Value::List(vec![unit("301", &["王建国"]), unit("302", &[])]),
            )],
        )?;
        let mut phone = server.fork();
        let id = match phone.get(ROOT, "feedback")? {
            Some((_, id)) => id,
            None => return Err("no feedback".into()),
        };
        phone.splice_text(&id, 3, 0, "完毕")?;
        // The phone adds a resident to unit 302 while the server renames unit 301's.
        let mut units = read(&phone.hydrate(ROOT, None)?, "units").ok_or("no units")?;
        if let Value::List(l) = &mut units {
            l[1] = unit("302", &["赵六"]);
        }
        write(&mut phone, &[("units", units)])?;
        write(
            &mut server,
            &[("feedback", Value::Text("楼道已清理".into()))],
        )?;
        write(
            &mut server,
            &[(
                "units",
                Value::List(vec![unit("301", &["王建华"]), unit("302", &[])]),
            )],
        )?;
        server.merge(&mut phone)?;
        let state = server.hydrate(ROOT, None)?;
        assert_eq!(
            read_text(&state, "feedback").as_deref(),
            Some("楼道已清理完毕")
        );
        assert_eq!(
            read(&state, "units"),
            Some(Value::List(vec![
                unit("301", &["王建华"]),
                unit("302", &["赵六"])
            ]))
        );
        Ok(())
    }
}
