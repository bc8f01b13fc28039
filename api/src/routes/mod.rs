//! The route table: every resource module registers its handlers here, under one `/api/v1`
//! scope, through utoipa-actix-web so that what is mounted and what is documented come from the
//! same calls and cannot drift apart.

use actix_web::App;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

pub mod activities;
pub mod api_keys;
pub mod areas;
pub mod auth;
pub mod buildings;
pub mod callouts;
pub mod downloads;
pub mod events;
pub mod grid_health;
pub mod health;
pub mod live;
pub mod notes;
pub mod patrols;
pub mod photos;
pub mod qr_image;
pub mod ranking_files;
pub mod reviews;
pub mod rewards;
pub mod sorting;
pub mod sync;
pub mod teams;
pub mod users;
pub mod volunteers;

/// The description of a problem response, shared by every route's `responses(...)`.
pub const PROBLEM: &str = "application/problem+json";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "gridwing API",
        description = "Municipal grid governance: citizens' reports, grid workers' tasks, volunteers and points. \
                       Errors are RFC 9457 problem details (`application/problem+json`). Lists are cursor-paginated: \
                       pass `next_cursor` back as `cursor`. Timestamps are UTC, RFC 3339.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "meta", description = "Health, readiness and this document"),
        (name = "auth", description = "Registration, login, token refresh and logout"),
        (name = "users", description = "Accounts, roles and the areas staff serve"),
        (name = "api-keys", description = "Keys for machine sources: IoT platforms, camera AI, hotlines"),
        (name = "areas", description = "The area tree (street → community → grid → micro-grid), overlays, locating a point"),
        (name = "grid-health", description = "Grid health in five colours (五色网格): score, colour, response level and what explains them; history; the map's colours; rules per street"),
        (name = "teams", description = "Enforcement squads, mediation teams, micro fire stations"),
        (name = "events", description = "Reports from every source, the closed loop, categories, deadlines, points"),
        (name = "live", description = "Live pushes over a websocket and catch-up by cursor"),
        (name = "buildings", description = "Buildings (楼幢), units, residents and businesses; QR codes (屋联码) and scanning"),
        (name = "photos", description = "Photos of reports and feedback: upload (re-encoded, metadata removed), photo and thumbnail"),
        (name = "volunteers", description = "The volunteer registry (志愿者), volunteer teams with leaders, joining and approval, service records"),
        (name = "activities", description = "Activities and shifts with capacity and waitlists, signups, cancellations, attendance"),
        (name = "callouts", description = "Call-outs (紧急召集): all volunteers of an area or team at once, answers and the roll"),
        (name = "rewards", description = "Points adjustments and totals, the reward catalogue and redemptions (积分兑换)"),
        (name = "sorting", description = "Garbage-sorting accounts of households and renters, records from staff and stations, points per result (垃圾分类)"),
        (name = "patrols", description = "Patrol routes (巡防) and their checkpoints, check-ins that pay once per window, walks, findings"),
        (name = "reviews", description = "Monthly reviews (网格月度研判报告) of grids, communities and streets: figures, the assessment, submission, comments, read marks, corrections"),
    ),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
                crate::auth::principal::API_KEY_HEADER,
            ))),
        );
    }
}

/// Rules between fields that the derive cannot state, added to the schemas it made: each entry
/// is a JSON pointer into the document and keywords merged into the object there. Each rule is
/// the one the named handler checks.
const RULES: &[(&str, &str)] = &[
    // The variants of a move refuse unknown fields (`deny_unknown_fields`); utoipa leaves the
    // variants of an internally tagged enum open.
    ("/components/schemas/MoveRequest", "closed-variants"),
    // put_rules: the defaults' weight `*` is required; every weight is 0–100; keys are
    // category codes (which exist is the catalogue's: stated in the operation).
    (
        "/components/schemas/HealthRules/properties/category_weights",
        r#"{"required": ["*"],
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
            "propertyNames": {"pattern": "^(\\*|[a-z0-9_.]{1,64})$"}}"#,
    ),
    // create_event: a point (lat and lng), or else a building.
    (
        "/components/schemas/CreateEventRequest",
        r#"{"if": {"anyOf": [{"required": ["lat"], "properties": {"lat": {"type": "number"}}},
                             {"required": ["lng"], "properties": {"lng": {"type": "number"}}}]},
            "then": {"required": ["lat", "lng"],
                     "properties": {"lat": {"type": "number"}, "lng": {"type": "number"}}},
            "else": {"required": ["building_code"],
                     "properties": {"building_code": {"type": "string"}}}}"#,
    ),
    // create_callout: exactly one of area and team.
    (
        "/components/schemas/CreateCalloutRequest",
        r#"{"oneOf": [{"required": ["area"], "properties": {"area": {"type": "string"}, "team": {"type": "null"}}},
                      {"required": ["team"], "properties": {"team": {"type": "string"}, "area": {"type": "null"}}}]}"#,
    ),
    // create_reward: a donation has no stock.
    (
        "/components/schemas/CreateRewardRequest",
        r#"{"if": {"properties": {"kind": {"const": "donation"}}},
            "then": {"properties": {"stock": {"type": "null"}}}}"#,
    ),
    // create_adjustment, change_reward: a change of nothing is refused.
    (
        "/components/schemas/AdjustmentRequest/properties/amount",
        r#"{"not": {"const": 0}}"#,
    ),
    (
        "/components/schemas/ChangeRewardRequest/properties/add_stock",
        r#"{"not": {"const": 0}}"#,
    ),
    // check_in: a geofence checkpoint with the phone's position and its accuracy, or else a
    // scanned code; never both; a position is both lat and lng.
    (
        "/components/schemas/CheckinRequest",
        r#"{"if": {"required": ["checkpoint"], "properties": {"checkpoint": {"type": "string"}}},
            "then": {"required": ["lat", "lng", "accuracy"],
                     "properties": {"lat": {"type": "number"}, "lng": {"type": "number"},
                                    "accuracy": {"type": "number"}, "code": {"type": "null"}}},
            "else": {"required": ["code"], "properties": {"code": {"type": "string"}}},
            "allOf": [
              {"if": {"required": ["lat"], "properties": {"lat": {"type": "number"}}},
               "then": {"required": ["lng"], "properties": {"lng": {"type": "number"}}}},
              {"if": {"required": ["lng"], "properties": {"lng": {"type": "number"}}},
               "then": {"required": ["lat"], "properties": {"lat": {"type": "number"}}}}]}"#,
    ),
    // create_route, put_route: a geofence has its centre and a radius of 5–2000 m; a QR
    // checkpoint has no radius.
    (
        "/components/schemas/CheckpointBody",
        r#"{"if": {"properties": {"kind": {"const": "geofence"}}},
            "then": {"required": ["lat", "lng", "radius_m"],
                     "properties": {"lat": {"type": "number"}, "lng": {"type": "number"},
                                    "radius_m": {"type": "integer", "minimum": 5, "maximum": 2000}}},
            "else": {"properties": {"radius_m": {"type": "null"}}},
            "allOf": [
              {"if": {"required": ["lat"], "properties": {"lat": {"type": "number"}}},
               "then": {"required": ["lng"], "properties": {"lng": {"type": "number"}}}},
              {"if": {"required": ["lng"], "properties": {"lng": {"type": "number"}}},
               "then": {"required": ["lat"], "properties": {"lat": {"type": "number"}}}}]}"#,
    ),
];

/// Applies [`RULES`] to the document as JSON (utoipa's types have no place for `if` or `not`).
/// A rule whose pointer finds nothing is a bug the document test catches: the document would
/// lack it, and differ from the committed one.
fn add_rules(doc: &mut serde_json::Value) {
    for (pointer, rule) in RULES {
        let Some(target) = doc.pointer_mut(pointer) else {
            tracing::error!(pointer, "an OpenAPI rule names no schema");
            continue;
        };
        if *rule == "closed-variants" {
            if let Some(variants) = target.get_mut("oneOf").and_then(|v| v.as_array_mut()) {
                for v in variants {
                    v["additionalProperties"] = serde_json::Value::Bool(false);
                }
            }
            continue;
        }
        let (Some(object), Ok(serde_json::Value::Object(add))) = (
            target.as_object_mut(),
            serde_json::from_str::<serde_json::Value>(rule),
        ) else {
            tracing::error!(pointer, "an OpenAPI rule does not apply");
            continue;
        };
        object.extend(add);
    }
}

/// Mounts every route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::openapi_json)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .configure(auth::configure)
                .configure(users::configure)
                .configure(api_keys::configure)
                .configure(areas::configure)
                .configure(grid_health::configure)
                .configure(ranking_files::configure)
                .configure(teams::configure)
                .configure(buildings::configure)
                .configure(events::configure)
                .configure(notes::configure)
                .configure(live::configure)
                .configure(sync::configure)
                .configure(photos::configure)
                .configure(volunteers::configure)
                .configure(activities::configure)
                .configure(callouts::configure)
                .configure(rewards::configure)
                .configure(sorting::configure)
                .configure(patrols::configure)
                .configure(reviews::configure),
        );
}

/// The OpenAPI document, built from the same registration as the server.
pub fn openapi() -> OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .configure(configure)
        .split_for_parts();
    api
}

/// The document as served and committed: [`openapi`] with the [`RULES`] between fields.
pub fn openapi_json() -> serde_json::Value {
    // The routes' schemas are only known here, after every route is registered.
    let mut doc = serde_json::to_value(openapi()).unwrap_or_default();
    add_rules(&mut doc);
    doc
}

/// The document as committed in `openapi/openapi.json` (pretty, trailing newline).
pub fn openapi_pretty() -> String {
    let mut s = serde_json::to_string_pretty(&openapi_json()).unwrap_or_default();
    s.push('\n');
    s
}
