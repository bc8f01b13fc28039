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
