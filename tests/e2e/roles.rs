//! Authorization in one table: every route the server mounts, who it admits, and a walk over
//! every role × route cell against the running server. The table is written here by hand, as the
//! specification; the test also fails when a route exists that the table does not list.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

/// Who a route admits.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user, whatever the role.
    AnyUser,
    /// Only users holding one of these roles.
    Roles(&'static [&'static str]),
}

use Access::*;

const NIL: &str = "00000000-0000-7000-8000-000000000000";

/// (method, path as documented, access, whether calling it ends the caller's session)
const ROUTES: &[(&str, &str, Access, bool)] = &[
    ("GET", "/healthz", Public, false),
    ("GET", "/readyz", Public, false),
    ("GET", "/openapi.json", Public, false),
    ("POST", "/api/v1/auth/register", Public, false),
    ("POST", "/api/v1/auth/login", Public, false),
    ("POST", "/api/v1/auth/refresh", Public, false),
    ("POST", "/api/v1/auth/logout", AnyUser, true),
    ("POST", "/api/v1/auth/logout-all", AnyUser, true),
    ("GET", "/api/v1/auth/whoami", AnyUser, false),
    ("GET", "/api/v1/me", AnyUser, false),
    ("GET", "/api/v1/users", Roles(&["admin"]), false),
    ("POST", "/api/v1/users", Roles(&["admin"]), false),
    ("GET", "/api/v1/users/{id}", Roles(&["admin"]), false),
    ("PATCH", "/api/v1/users/{id}", Roles(&["admin"]), false),
    ("GET", "/api/v1/api-keys", Roles(&["admin"]), false),
    ("POST", "/api/v1/api-keys", Roles(&["admin"]), false),
    ("DELETE", "/api/v1/api-keys/{id}", Roles(&["admin"]), false),
    ("POST", "/api/v1/areas/import", Roles(&["admin"]), false),
    (
        "GET",
        "/api/v1/areas/export",
        Roles(&["dispatcher", "admin"]),
        false,
    ),
    ("GET", "/api/v1/areas/locate", AnyUser, false),
    (
        "GET",
        "/api/v1/areas/{code}/qr-sheet.pdf",
        Roles(STAFF),
        false,
    ),
    ("GET", "/api/v1/areas", AnyUser, false),
    (
        "GET",
        "/api/v1/areas/{code}/health",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    (
        "GET",
        "/api/v1/areas/{code}/health/history",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    ("GET", "/api/v1/grid-health", Roles(HEALTH_VIEWERS), false),
    ("GET", "/api/v1/rankings", Roles(HEALTH_VIEWERS), false),
    ("GET", "/api/v1/rankings.xlsx", Roles(HEALTH_VIEWERS), false),
    ("GET", "/api/v1/rankings.csv", Roles(HEALTH_VIEWERS), false),
    ("GET", "/api/v1/rankings.pdf", Roles(HEALTH_VIEWERS), false),
    (
        "POST",
        "/api/v1/grid-health/recompute",
        Roles(&["admin"]),
        false,
    ),
    (
        "GET",
        "/api/v1/health-rules/{street}",
        Roles(&["admin"]),
        false,
    ),
    (
        "PUT",
        "/api/v1/health-rules/{street}",
        Roles(&["admin"]),
        false,
    ),
    ("GET", "/api/v1/areas/{code}", AnyUser, false),
    ("GET", "/api/v1/teams", Roles(STAFF), false),
    ("POST", "/api/v1/teams", Roles(&["admin"]), false),
    ("GET", "/api/v1/teams/{code}", Roles(STAFF), false),
    ("PUT", "/api/v1/teams/{code}", Roles(&["admin"]), false),
    ("DELETE", "/api/v1/teams/{code}", Roles(&["admin"]), false),
    ("GET", "/api/v1/buildings", Roles(STAFF), false),
    ("POST", "/api/v1/buildings", Roles(&["admin"]), false),
    (
        "GET",
        "/api/v1/buildings/{code}/qr.png",
        Roles(STAFF),
        false,
    ),
    (
        "GET",
        "/api/v1/buildings/{code}/qr.svg",
        Roles(STAFF),
        false,
    ),
    (
        "GET",
        "/api/v1/buildings/{code}/history",
        Roles(STAFF),
        false,
    ),
    ("GET", "/api/v1/buildings/{code}", Roles(STAFF), false),
    (
        "PATCH",
        "/api/v1/buildings/{code}",
        Roles(&["grid_worker"]),
        false,
    ),
    ("POST", "/api/v1/scan", AnyUser, false),
    ("POST", "/api/v1/photos", AnyUser, false),
    ("GET", "/api/v1/photos/{sha256}", AnyUser, false),
    ("GET", "/api/v1/photos/{sha256}/thumb", AnyUser, false),
    ("GET", "/api/v1/live", AnyUser, false),
    ("GET", "/api/v1/sync", AnyUser, false),
    ("GET", "/api/v1/feed", AnyUser, false),
    ("POST", "/api/v1/events", AnyUser, false),
    ("GET", "/api/v1/events", AnyUser, false),
    ("GET", "/api/v1/events/{id}", AnyUser, false),
    (
        "GET",
        "/api/v1/events/{id}/escalations",
        Roles(&["dispatcher", "admin"]),
        false,
    ),
    ("POST", "/api/v1/events/{id}/moves", AnyUser, false),
    ("PATCH", "/api/v1/events/{id}/task", Roles(STAFF), false),
    ("PATCH", "/api/v1/events/{id}/report", AnyUser, false),
    (
        "PATCH",
        "/api/v1/events/{id}",
        Roles(&["dispatcher", "admin"]),
        false,
    ),
    ("GET", "/api/v1/categories", AnyUser, false),
    ("PUT", "/api/v1/categories/{code}", Roles(&["admin"]), false),
    ("GET", "/api/v1/deadline-policies", Roles(STAFF), false),
    (
        "PUT",
        "/api/v1/deadline-policies/{street}/{colour}",
        Roles(&["admin"]),
        false,
    ),
    ("GET", "/api/v1/points/me", AnyUser, false),
    ("POST", "/api/v1/volunteers/me", AnyUser, false),
    ("GET", "/api/v1/volunteers/me", AnyUser, false),
    ("GET", "/api/v1/volunteers/me/service", AnyUser, false),
    ("GET", "/api/v1/volunteers", Roles(COORDINATORS), false),
    ("GET", "/api/v1/volunteers/{id}", Roles(COORDINATORS), false),
    (
        "POST",
        "/api/v1/volunteer-teams",
        Roles(COORDINATORS),
        false,
    ),
    ("GET", "/api/v1/volunteer-teams", AnyUser, false),
    ("GET", "/api/v1/volunteer-teams/{code}", AnyUser, false),
    (
        "GET",
        "/api/v1/volunteer-teams/{code}/members",
        AnyUser,
        false,
    ),
    (
        "POST",
        "/api/v1/volunteer-teams/{code}/join",
        AnyUser,
        false,
    ),
    (
        "POST",
        "/api/v1/volunteer-teams/{code}/leave",
        AnyUser,
        false,
    ),
    (
        "POST",
        "/api/v1/volunteer-teams/{code}/decisions",
        AnyUser,
        false,
    ),
    ("POST", "/api/v1/activities", Roles(COORDINATORS), false),
    ("GET", "/api/v1/activities", AnyUser, false),
    ("GET", "/api/v1/activities/{id}", AnyUser, false),
    (
        "GET",
        "/api/v1/activities/{id}/attendance-code",
        Roles(COORDINATORS),
        false,
    ),
    ("POST", "/api/v1/shifts/{id}/signups", AnyUser, false),
    (
        "GET",
        "/api/v1/shifts/{id}/signups",
        Roles(COORDINATORS),
        false,
    ),
    (
        "POST",
        "/api/v1/shifts/{id}/attendance",
        Roles(COORDINATORS),
        false,
    ),
    ("GET", "/api/v1/signups/me", AnyUser, false),
    ("POST", "/api/v1/signups/{id}/cancel", AnyUser, false),
    ("POST", "/api/v1/attendance/scan", AnyUser, false),
    ("POST", "/api/v1/callouts", Roles(COORDINATORS), false),
    ("GET", "/api/v1/callouts/mine", AnyUser, false),
    ("GET", "/api/v1/callouts/{id}", AnyUser, false),
    (
        "GET",
        "/api/v1/callouts/{id}/roll",
        Roles(COORDINATORS),
        false,
    ),
    ("POST", "/api/v1/callouts/{id}/answer", AnyUser, false),
    ("GET", "/api/v1/points/me/balance", AnyUser, false),
    (
        "POST",
        "/api/v1/points/adjustments",
        Roles(&["admin"]),
        false,
    ),
    ("GET", "/api/v1/points/totals", Roles(&["admin"]), false),
    ("GET", "/api/v1/rewards", AnyUser, false),
    (
        "POST",
        "/api/v1/rewards",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    ("GET", "/api/v1/rewards/{code}", AnyUser, false),
    (
        "PATCH",
        "/api/v1/rewards/{code}",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    ("POST", "/api/v1/rewards/{code}/redeem", AnyUser, false),
    ("GET", "/api/v1/redemptions/me", AnyUser, false),
    (
        "GET",
        "/api/v1/redemptions",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    ("GET", "/api/v1/redemptions/{id}", AnyUser, false),
    (
        "POST",
        "/api/v1/redemptions/{id}/fulfil",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    ("POST", "/api/v1/redemptions/{id}/cancel", AnyUser, false),
    (
        "POST",
        "/api/v1/sorting/accounts",
        Roles(SORTING_STAFF),
        false,
    ),
    (
        "GET",
        "/api/v1/sorting/accounts",
        Roles(SORTING_STAFF),
        false,
    ),
    ("GET", "/api/v1/sorting/accounts/me", AnyUser, false),
    ("GET", "/api/v1/sorting/accounts/{code}", AnyUser, false),
    (
        "POST",
        "/api/v1/sorting/accounts/{code}/records",
        Roles(SORTING_RATERS),
        false,
    ),
    (
        "GET",
        "/api/v1/sorting/accounts/{code}/records",
        AnyUser,
        false,
    ),
    ("GET", "/api/v1/sorting/policy", AnyUser, false),
    (
        "PUT",
        "/api/v1/sorting/policy/{code}",
        Roles(&["admin"]),
        false,
    ),
    ("GET", "/api/v1/patrol-routes", AnyUser, false),
    (
        "POST",
        "/api/v1/patrol-routes",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    ("GET", "/api/v1/patrol-routes/{code}", AnyUser, false),
    (
        "PUT",
        "/api/v1/patrol-routes/{code}",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    (
        "GET",
        "/api/v1/patrol-checkpoints/{code}/qr.png",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    (
        "GET",
        "/api/v1/patrol-checkpoints/{code}/qr.svg",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    (
        "GET",
        "/api/v1/patrol-checkpoints/{code}/live-qr",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    ("POST", "/api/v1/patrol-checkins", AnyUser, false),
    (
        "GET",
        "/api/v1/patrol-checkins/held",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    (
        "POST",
        "/api/v1/patrol-checkins/{id}/review",
        Roles(&["coordinator", "admin"]),
        false,
    ),
    (
        "POST",
        "/api/v1/patrol-checkins/{id}/findings",
        AnyUser,
        false,
    ),
    ("GET", "/api/v1/patrol-walks", AnyUser, false),
    ("GET", "/api/v1/reviews", Roles(HEALTH_VIEWERS), false),
    ("POST", "/api/v1/reviews", Roles(HEALTH_VIEWERS), false),
    ("GET", "/api/v1/reviews/{id}", Roles(HEALTH_VIEWERS), false),
    (
        "GET",
        "/api/v1/reviews/{id}/report.pdf",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    (
        "GET",
        "/api/v1/reviews/{id}/report.xlsx",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    (
        "GET",
        "/api/v1/reviews/{id}/report.csv",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    (
        "PUT",
        "/api/v1/reviews/{id}/assessment",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    (
        "POST",
        "/api/v1/reviews/{id}/submit",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    (
        "POST",
        "/api/v1/reviews/{id}/comments",
        Roles(HEALTH_VIEWERS),
        false,
    ),
    (
        "POST",
        "/api/v1/reviews/{id}/read",
        Roles(&["dispatcher", "admin"]),
        false,
    ),
    (
        "POST",
        "/api/v1/reviews/{id}/versions",
        Roles(HEALTH_VIEWERS),
        false,
    ),
];

/// Volunteer coordinators and admins.
const COORDINATORS: &[&str] = &["coordinator", "admin"];

/// Everyone who works for the street: all roles but citizens.
const STAFF: &[&str] = &[
    "grid_worker",
    "team_member",
    "dispatcher",
    "coordinator",
    "admin",
];

/// Who sees grid health and monthly reviews: the command centre, and grid workers (their own
/// grids).
const HEALTH_VIEWERS: &[&str] = &["grid_worker", "dispatcher", "admin"];

/// Who keeps sorting accounts.
const SORTING_STAFF: &[&str] = &["grid_worker", "coordinator", "admin"];

/// Who may rate sorting accounts at all (which accounts is decided with the account in hand):
/// grid workers and the teams of sorting points.
const SORTING_RATERS: &[&str] = &["grid_worker", "team_member"];

const ROLES: &[(&str, &str)] = &[
    ("citizen", CITIZEN),
    ("grid_worker", GRID_WORKER),
    ("team_member", TEAM_MEMBER),
    ("dispatcher", DISPATCHER),
    ("coordinator", COORDINATOR),
    ("admin", ADMIN),
];

#[tokio::test]
async fn the_table_lists_exactly_the_documented_routes() -> TestResult {
    let app = TestApp::spawn().await?;
    let (_, doc) = app.get("/openapi.json", None).await?;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().ok_or("paths")? {
        for method in item.as_object().ok_or("path item")?.keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, ..)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        table, documented,
        "every route in the table is documented and vice versa"
    );

    // And every documented route is mounted: its method reaches a handler, not the fallback.
    for (method, path, ..) in ROUTES {
        let res = app
            .request(
                Method::from_bytes(method.as_bytes())?,
                &path
                    .replace("{id}", NIL)
                    .replace("{code}", "NOPE")
                    .replace("{street}", "QSH")
                    .replace("{colour}", "red"),
                None,
            )
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert!(
            body["type"] != "/problems/route-not-found"
                && body["type"] != "/problems/method-not-allowed",
            "{method} {path} is not mounted: {status} {body}"
        );
    }
    Ok(())
}

fn body_for(method: &str, path: &str) -> Option<serde_json::Value> {
    // Bodies that pass parsing but do nothing harmful: admission is what is under test.
    match (method, path) {
        ("POST", "/api/v1/users") => {
            Some(json!({"phone": "1", "name": "x", "password": "x", "roles": []}))
        }
        ("PATCH", _) => Some(json!({})),
        ("POST", "/api/v1/api-keys") => Some(json!({"name": "", "scopes": []})),
        ("POST", "/api/v1/auth/register" | "/api/v1/auth/login") => {
            Some(json!({"phone": "1", "password": "x"}))
        }
        ("POST", "/api/v1/auth/refresh") => Some(json!({"refresh_token": "x"})),
        ("POST", "/api/v1/areas/import") => Some(json!({})),
        ("POST", "/api/v1/teams") => Some(json!({"code": "", "name": "", "kind": "other"})),
        ("PUT", _) => Some(json!({"name": "", "kind": "other"})),
        ("POST", "/api/v1/buildings") => Some(json!({"code": "", "name": "", "address": ""})),
        ("POST", "/api/v1/scan") => Some(json!({"code": "x"})),
        ("POST", "/api/v1/events") => Some(json!({})),
        ("POST", "/api/v1/events/{id}/moves") => Some(json!({"move": "accept"})),
        ("POST", "/api/v1/volunteer-teams/{code}/decisions") => {
            Some(json!({"user_id": NIL, "approve": true}))
        }
        ("POST", "/api/v1/attendance/scan") => Some(json!({"code": "x"})),
        ("POST", "/api/v1/callouts/{id}/answer") => Some(json!({"answer": "yes"})),
        ("POST", "/api/v1/shifts/{id}/attendance") => Some(json!({"user_id": NIL})),
        ("POST", "/api/v1/patrol-checkins") => Some(json!({"checkpoint": "NOPE"})),
        ("POST", "/api/v1/reviews") => Some(json!({"area": "NOPE", "month": "2026-01"})),
        ("POST", "/api/v1/reviews/{id}/comments") => Some(json!({"body": "x"})),
        ("POST", "/api/v1/patrol-checkins/{id}/findings") => {
            Some(json!({"category": "other", "description": "x"}))
        }
        _ => None,
    }
}

#[tokio::test]
async fn every_role_reaches_exactly_the_routes_that_admit_it() -> TestResult {
    let app = TestApp::spawn_with(&["--login-limit-per-addr", "1000"]).await?;
    let mut tokens = Vec::new();
    for (role, phone) in ROLES {
        tokens.push((*role, *phone, app.token(phone).await?));
    }
    for (method, path, access, ends_session) in ROUTES {
        let url = path
            .replace("{id}", NIL)
            .replace("{code}", "NOPE")
            .replace("{street}", "QSH")
            .replace("{colour}", "red");
        let method = Method::from_bytes(method.as_bytes())?;
        let send = |token: Option<String>| {
            let mut rb = app.request(method.clone(), &url, token.as_deref());
            if let Some(b) = body_for(method.as_str(), path) {
                rb = rb.json(&b);
            }
            rb.send()
        };
        // Anonymous.
        let anonymous = send(None).await?.status();
        match access {
            Public => assert_ne!(
                anonymous,
                StatusCode::FORBIDDEN,
                "anonymous {method} {path}"
            ),
            _ => assert_eq!(
                anonymous,
                StatusCode::UNAUTHORIZED,
                "anonymous {method} {path}"
            ),
        }
        for (role, phone, token) in &mut tokens {
            let status = send(Some(token.clone())).await?.status();
            if *ends_session {
                *token = app.token(phone).await?;
            }
            let admitted = match access {
                // A public route answers a signed-in caller exactly as it answers anyone.
                Public => {
                    assert_eq!(status, anonymous, "{role} on public {method} {path}");
                    continue;
                }
                AnyUser => true,
                Roles(roles) => roles.contains(role),
            };
            if admitted {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{role} should reach {method} {path}: {status}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} must not reach {method} {path}"
                );
            }
        }
    }
    Ok(())
}
