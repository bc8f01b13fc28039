//! Login sessions and their refresh tokens.
//!
//! A password login opens a session; each refresh exchanges the presented refresh token for a new
//! one in the same session (rotation). A refresh token presented twice means it was copied, so
//! the whole session is revoked (reuse detection) and both holders must log in again. Access
//! tokens name their session, and [`SessionCache`] lets every request check it is not revoked
//! without a database round trip each time.

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::jwt::JwtKeys;
use super::roles::Role;
use super::tokens;
use crate::entities::{refresh_tokens, sessions};
use crate::error::{ApiError, ApiResult};

const REFRESH_PREFIX: &str = "gwr_";

/// What a login or a refresh returns.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque, single-use token for `POST /api/v1/auth/refresh`.
    pub refresh_token: String,
    /// The login session both tokens belong to.
    pub session_id: Uuid,
}

/// Why a session ended; stored with it.
#[derive(Debug, Clone, Copy)]
pub enum RevokeReason {
    Logout,
    LogoutEverywhere,
    RefreshReuse,
    AccountChanged,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutEverywhere => "logout_everywhere",
            Self::RefreshReuse => "refresh_reuse",
            Self::AccountChanged => "account_changed",
        }
    }
}

async fn insert_refresh_token(db: &impl ConnectionTrait, session: Uuid) -> ApiResult<String> {
    let raw = tokens::random_secret(REFRESH_PREFIX)?;
    refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session),
        token_hash: Set(tokens::digest(&raw)),
        created_at: Set(Utc::now()),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(raw)
}

/// Opens a session for a user who just proved their password.
pub async fn open(
    db: &DatabaseConnection,
    jwt: &JwtKeys,
    user: Uuid,
    roles: &[Role],
    refresh_ttl: Duration,
) -> ApiResult<TokenPair> {
    let now = Utc::now();
    let sid = Uuid::now_v7();
    let tx = crate::db::begin_write(db).await?;
    sessions::ActiveModel {
        id: Set(sid),
        user_id: Set(user),
        created_at: Set(now),
        expires_at: Set(now + refresh_ttl),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(&tx)
    .await?;
    let refresh_token = insert_refresh_token(&tx, sid).await?;
    tx.commit().await?;
    Ok(TokenPair {
        access_token: jwt.issue(user, sid, roles)?,
        token_type: "Bearer",
        expires_in: jwt.ttl_secs(),
        refresh_token,
        session_id: sid,
    })
}

/// The outcome of presenting a refresh token, before roles are loaded.
pub struct Rotated {
    pub user: Uuid,
    pub session: Uuid,
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new one. A reused token revokes its session.
pub async fn rotate(
    db: &DatabaseConnection,
    cache: &SessionCache,
    raw: &str,
) -> ApiResult<Rotated> {
    const INVALID: ApiError = ApiError::Unauthorized("invalid or expired refresh token");
    if !raw.starts_with(REFRESH_PREFIX) {
        return Err(INVALID);
    }
    let hash = tokens::digest(raw);
    let tx = crate::db::begin_write(db).await?;
    let Some(token) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash))
        .one(&tx)
        .await?
    else {
        return Err(INVALID);
    };
    let Some(session) = sessions::Entity::find_by_id(token.session_id)
        .one(&tx)
        .await?
    else {
        return Err(INVALID);
    };
    let now = Utc::now();
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(INVALID);
    }
    // Mark used only if nobody else did: of two racing requests with the same token, exactly one
    // wins and the other is treated as reuse.
    let claimed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
        .filter(refresh_tokens::Column::Id.eq(token.id))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .exec(&tx)
        .await?
        .rows_affected
        == 1;
    if !claimed {
        drop(tx);
        revoke_session(db, session.id, RevokeReason::RefreshReuse).await?;
        cache.forget([session.id]);
        tracing::warn!(session = %session.id, user = %session.user_id, "refresh token reused; session revoked");
        return Err(INVALID);
    }
    let refresh_token = insert_refresh_token(&tx, session.id).await?;
    tx.commit().await?;
    Ok(Rotated {
        user: session.user_id,
        session: session.id,
        refresh_token,
    })
}

/// Ends one session.
pub async fn revoke_session(
    db: &impl ConnectionTrait,
    session: Uuid,
    reason: RevokeReason,
) -> ApiResult<()> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(
            sessions::Column::RevokedReason,
            Expr::value(reason.as_str()),
        )
        .filter(sessions::Column::Id.eq(session))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of a user; returns the sessions that were still open.
pub async fn revoke_all(
    db: &impl ConnectionTrait,
    user: Uuid,
    reason: RevokeReason,
) -> ApiResult<Vec<Uuid>> {
    let open: Vec<Uuid> = sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user))
        .filter(sessions::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(
            sessions::Column::RevokedReason,
            Expr::value(reason.as_str()),
        )
        .filter(sessions::Column::UserId.eq(user))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(open)
}

/// A per-instance memory of which sessions are live. A revocation made on this instance is seen
/// at once; one made on another instance is seen within `ttl`, which is the bound on how long a
/// logged-out access token can still be used anywhere. Sessions not in memory are looked up
/// together: a rush of people arriving at once costs one query per batch, not one each.
pub struct SessionCache {
    entries: quick_cache::sync::Cache<Uuid, (bool, Instant)>,
    ttl: Duration,
    lookups: crate::batch::Batcher<(), Uuid, Option<bool>>,
}

/// Which of `ids` are live sessions; None for all when the database did not answer.
async fn live_sessions(db: &DatabaseConnection, ids: Vec<Uuid>) -> Vec<Option<bool>> {
    let found = sessions::Entity::find()
        .filter(sessions::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await;
    match found {
        Ok(rows) => {
            let now = Utc::now();
            let live: std::collections::HashSet<Uuid> = rows
                .into_iter()
                .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
                .map(|s| s.id)
                .collect();
            ids.iter().map(|id| Some(live.contains(id))).collect()
        }
        Err(e) => {
            tracing::error!(error = %e, sessions = ids.len(), "looking up sessions failed");
            ids.iter().map(|_| None).collect()
        }
    }
}

impl SessionCache {
    pub fn new(db: DatabaseConnection, ttl: Duration) -> Self {
        let lookups = crate::batch::Batcher::new(
            256,
            Duration::from_secs(60),
            std::sync::Arc::new(move |(), ids| {
                let db = db.clone();
                Box::pin(async move { live_sessions(&db, ids).await })
                    as futures_util::future::BoxFuture<'static, _>
            }),
        );
        Self {
            entries: quick_cache::sync::Cache::new(100_000),
            ttl,
            lookups,
        }
    }

    /// Refuses a revoked, expired or unknown session.
    pub async fn ensure_active(&self, session: Uuid) -> ApiResult<()> {
        let live = match self.entries.get(&session) {
            Some((live, at)) if at.elapsed() < self.ttl => live,
            _ => {
                let live = self
                    .lookups
                    .submit((), session)
                    .await
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        ApiError::Unavailable("sessions cannot be checked right now".into())
                    })?;
                self.entries.insert(session, (live, Instant::now()));
                live
            }
        };
        if live {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(
                "the session has ended; log in again",
            ))
        }
    }

    /// Records revocations made by this instance.
    pub fn forget(&self, sessions: impl IntoIterator<Item = Uuid>) {
        for s in sessions {
            self.entries.insert(s, (false, Instant::now()));
        }
    }
}
