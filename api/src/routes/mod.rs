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
pub mod events;
pub mod health;
pub mod patrols;
pub mod qr_image;
pub mod rewards;
pub mod sorting;
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

/// The variants of an internally tagged enum that refuses unknown fields are closed objects;
/// utoipa leaves them open, and a client would then think extra fields are accepted.
struct ClosedVariants;

/// Request enums with `#[serde(tag = ..., deny_unknown_fields)]`.
const CLOSED_ENUMS: &[&str] = &["MoveRequest"];

impl utoipa::Modify for ClosedVariants {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        use utoipa::openapi::RefOr;
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in CLOSED_ENUMS {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(*name) {
                for item in &mut one_of.items {
                    if let RefOr::T(Schema::Object(object)) = item {
                        object.additional_properties =
                            Some(Box::new(AdditionalProperties::FreeForm(false)));
                    }
                }
            }
        }
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
                .configure(teams::configure)
                .configure(buildings::configure)
                .configure(events::configure)
                .configure(crate::live::routes::configure)
                .configure(crate::sync::routes::configure)
                .configure(crate::photos::configure)
                .configure(volunteers::configure)
                .configure(activities::configure)
                .configure(callouts::configure)
                .configure(rewards::configure)
                .configure(sorting::configure)
                .configure(patrols::configure),
        );
}

/// The OpenAPI document, built from the same registration as the server.
pub fn openapi() -> OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .configure(configure)
        .split_for_parts();
    // The routes' schemas are only known here, after every route is registered.
    utoipa::Modify::modify(&ClosedVariants, &mut api);
    api
}

/// The document as committed in `openapi/openapi.json` (pretty, trailing newline).
pub fn openapi_pretty() -> String {
    let mut s = openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
