//! API keys for machine sources (IoT platforms, camera AI, the 110 linkage platform, hotlines).
//! A key is `gwk_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key
//! proves it. The key is shown once at creation and never again.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::tokens;
use crate::entities::api_keys;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageRequest;
use crate::stored::Corrupt;

/// What a key may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Post events (sensors, camera AI, hotlines, 110 linkage).
    #[serde(rename = "events:write")]
    EventsWrite,
    /// Post garbage-sorting records (sorting stations).
    #[serde(rename = "sorting:write")]
    SortingWrite,
}

/// A machine caller, authenticated by its key.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub key_id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl ApiClient {
    /// Refuses with 403 unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// A freshly created key: the only time the secret exists outside the caller's hands.
pub struct CreatedKey {
    pub row: api_keys::Model,
    pub key: String,
}

pub async fn create(
    db: &DatabaseConnection,
    name: String,
    scopes: Vec<Scope>,
    created_by: Option<Uuid>,
) -> ApiResult<CreatedKey> {
    let prefix = tokens::random_hex(6)?;
    let key = tokens::random_secret(&format!("gwk_{prefix}_"))?;
    let row = api_keys::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        key_prefix: Set(prefix),
        key_hash: Set(tokens::digest(&key)),
        scopes: Set(serde_json::to_string(&scopes).map_err(anyhow::Error::from)?),
        created_by: Set(created_by),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(CreatedKey { row, key })
}

/// A key's stored scopes. Unreadable scopes are a corrupt row: the key is refused with an
/// internal error rather than read as a key without scopes.
pub fn scopes_of(row: &api_keys::Model) -> Result<Vec<Scope>, Corrupt> {
    crate::stored::json("API key scopes", &row.scopes)
}

/// Keys as recently read, by prefix: a sensor posting many times a second must not cost a read
/// of its key each time. A revocation made on this instance is seen at once; one made on another
/// instance within `ttl`, the same bound as for sessions.
pub struct KeyCache {
    entries: quick_cache::sync::Cache<String, Arc<CachedKey>>,
    ttl: Duration,
}

struct CachedKey {
    row: api_keys::Model,
    read_at: Instant,
    /// Unix seconds of the last use recorded in the database.
    recorded_use: AtomicI64,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(10_000),
            ttl,
        }
    }

    async fn read(
        &self,
        db: &DatabaseConnection,
        prefix: &str,
    ) -> ApiResult<Option<Arc<CachedKey>>> {
        if let Some(hit) = self.entries.get(prefix)
            && hit.read_at.elapsed() < self.ttl
        {
            return Ok(Some(hit));
        }
        let Some(row) = api_keys::Entity::find()
            .filter(api_keys::Column::KeyPrefix.eq(prefix))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let cached = Arc::new(CachedKey {
            recorded_use: AtomicI64::new(row.last_used_at.map_or(0, |t| t.timestamp())),
            row,
            read_at: Instant::now(),
        });
        self.entries.insert(prefix.to_owned(), cached.clone());
        Ok(Some(cached))
    }

    /// The client a presented key belongs to, if the key is genuine and not revoked.
    pub async fn authenticate(
        &self,
        db: &DatabaseConnection,
        presented: &str,
    ) -> ApiResult<ApiClient> {
        const INVALID: ApiError = ApiError::Unauthorized("invalid or revoked API key");
        let prefix = presented
            .strip_prefix("gwk_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(p, _)| p)
            .ok_or(INVALID)?;
        let key = self.read(db, prefix).await?.ok_or(INVALID)?;
        let row = &key.row;
        if row.revoked_at.is_some()
            || !tokens::digests_equal(&tokens::digest(presented), &row.key_hash)
        {
            return Err(INVALID);
        }
        // Recording every use would turn each sensor post into a write; once a minute is enough
        // to see which keys are alive, and only the request that claims the minute writes.
        let now = Utc::now();
        let last = key.recorded_use.load(Ordering::Relaxed);
        if now.timestamp() - last >= 60
            && key
                .recorded_use
                .compare_exchange(last, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            api_keys::Entity::update_many()
                .col_expr(
                    api_keys::Column::LastUsedAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(api_keys::Column::Id.eq(row.id))
                .exec(db)
                .await?;
        }
        Ok(ApiClient {
            key_id: row.id,
            scopes: scopes_of(row)?,
            name: row.name.clone(),
        })
    }

    /// Revokes a key; `false` when there is no such key.
    pub async fn revoke(&self, db: &DatabaseConnection, id: Uuid) -> ApiResult<bool> {
        api_keys::Entity::update_many()
            .col_expr(
                api_keys::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(api_keys::Column::Id.eq(id))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
        let Some(row) = api_keys::Entity::find_by_id(id).one(db).await? else {
            return Ok(false);
        };
        self.entries.remove(&row.key_prefix);
        Ok(true)
    }
}

/// A page of keys, oldest first.
pub async fn list(db: &DatabaseConnection, page: &PageRequest) -> ApiResult<Vec<api_keys::Model>> {
    let mut query = api_keys::Entity::find().order_by_asc(api_keys::Column::Id);
    if let Some(after) = page.after {
        query = query.filter(api_keys::Column::Id.gt(after));
    }
    Ok(query.limit(page.fetch()).all(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_use_their_wire_names_and_are_checked() {
        let json =
            serde_json::to_string(&[Scope::EventsWrite, Scope::SortingWrite]).unwrap_or_default();
        assert_eq!(json, r#"["events:write","sorting:write"]"#);
        let client = ApiClient {
            key_id: Uuid::now_v7(),
            name: "IoT".into(),
            scopes: vec![Scope::EventsWrite],
        };
        assert!(client.require(Scope::EventsWrite).is_ok());
        assert!(matches!(
            client.require(Scope::SortingWrite),
            Err(ApiError::Forbidden)
        ));
    }
}
