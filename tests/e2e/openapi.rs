//! The committed OpenAPI document is the one the code generates and the server serves.

use crate::support::*;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn committed_document_matches_the_code() {
    let generated = gridwing_api::routes::openapi_pretty();
    assert!(
        generated == COMMITTED,
        "openapi/openapi.json is stale: run scripts/openapi and commit the result"
    );
}

#[tokio::test]
async fn the_server_serves_the_committed_document() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, served) = app.get("/openapi.json", None).await?;
    let committed: serde_json::Value = serde_json::from_str(COMMITTED)?;
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
    // Every error answer is documented as problem+json with the Problem schema.
    assert!(served["components"]["schemas"]["Problem"].is_object());
    Ok(())
}

/// Every schema the document points at is in it: generators (the console's types among them)
/// refuse a document with a dangling `$ref`.
#[test]
fn every_reference_in_the_document_resolves() -> TestResult {
    let doc: serde_json::Value = serde_json::from_str(COMMITTED)?;
    let mut refs = Vec::new();
    let mut stack = vec![&doc];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(!refs.is_empty());
    let dangling: Vec<_> = refs
        .iter()
        .filter(|r| {
            r.strip_prefix('#')
                .is_none_or(|pointer| doc.pointer(pointer).is_none())
        })
        .collect();
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    Ok(())
}
