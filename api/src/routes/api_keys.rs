//! API keys for machine sources, managed by admins.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::api_keys::{self, Scope};
use crate::auth::roles::AdminOnly;
use crate::entities::api_keys as rows;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::state::AppState;
use crate::stored::Corrupt;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_keys)
        .service(create_key)
        .service(revoke_key);
}

/// An API key without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The public part of the key (`gwk_<prefix>_…`), to tell keys apart.
    pub key_prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<rows::Model> for ApiKeyView {
    type Error = Corrupt;

    fn try_from(r: rows::Model) -> Result<Self, Corrupt> {
        Ok(Self {
            scopes: api_keys::scopes_of(&r)?,
            id: r.id,
            name: r.name,
            key_prefix: r.key_prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// A new key: `key` is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The secret to configure in the machine source, sent as the `X-Api-Key` header.
    pub key: String,
    pub api_key: ApiKeyView,
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. 青山湖烟感平台.
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,98}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// List API keys, oldest first.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<ApiKeyView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/api-keys")]
pub async fn list_keys(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<ApiKeyView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let items = api_keys::list(&state.db, &page)
        .await?
        .into_iter()
        .map(ApiKeyView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(web::Json(Page::from_rows(
        items,
        &page,
        |k: &ApiKeyView| k.id,
    )))
}

/// Create an API key for a machine source.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/api-keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    auth: Auth<AdminOnly>,
    Json(body): Json<CreateApiKeyRequest>,
) -> ApiResult<HttpResponse> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "length", "1–100 characters"));
    }
    if body.scopes.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "min_items",
            "at least one scope",
        ));
    }
    let mut scopes = body.scopes;
    scopes.sort();
    scopes.dedup();
    let created = api_keys::create(&state.db, name.to_owned(), scopes, Some(auth.user.id)).await?;
    Ok(HttpResponse::Created().json(CreatedApiKey {
        key: created.key,
        api_key: created.row.try_into()?,
    }))
}

/// Revoke an API key; requests with it are refused from now on.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    if state.api_keys.revoke(&state.db, id.into_inner()).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("API key"))
    }
}
