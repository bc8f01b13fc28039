//! Fixed-window attempt counters for login and registration. In memory for one instance; in
//! Redis (INCR with an expiry) when `REDIS_URL` is set, so every instance behind a load balancer
//! counts the same attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::error::ApiError;

/// A limit: at most `max` hits per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

/// Where the counters live.
pub enum RateLimiter {
    Memory(Mutex<HashMap<String, (u32, Instant)>>),
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
}

/// Above this many keys the in-memory limiter drops expired windows before counting.
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(HashMap::new()))
    }

    /// Counts one hit on `key`; refuses with 429 once the window holds more than `limit.max`.
    pub async fn hit(&self, key: &str, limit: Limit) -> Result<(), ApiError> {
        let (count, retry_after) = match self {
            Self::Memory(map) => {
                let now = Instant::now();
                let mut map = map
                    .lock()
                    .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("rate limiter poisoned")))?;
                if map.len() > PRUNE_AT {
                    map.retain(|_, (_, start)| now.duration_since(*start) < limit.window);
                }
                let entry = map.entry(key.to_owned()).or_insert((0, now));
                if now.duration_since(entry.1) >= limit.window {
                    *entry = (0, now);
                }
                entry.0 = entry.0.saturating_add(1);
                let left = limit.window.saturating_sub(now.duration_since(entry.1));
                (entry.0, left.as_secs().max(1))
            }
            Self::Redis { conn, prefix } => {
                let full = format!("{prefix}:rl:{key}");
                let mut conn = conn.clone();
                let (count, ttl): (u32, i64) = redis::pipe()
                    .atomic()
                    .cmd("INCR")
                    .arg(&full)
                    .cmd("EXPIRE")
                    .arg(&full)
                    .arg(limit.window.as_secs())
                    .arg("NX")
                    .ignore()
                    .cmd("TTL")
                    .arg(&full)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| ApiError::Unavailable(format!("rate limiter: {e}")))?;
                (count, u64::try_from(ttl).unwrap_or(1).max(1))
            }
        };
        if count > limit.max {
            Err(ApiError::RateLimited {
                retry_after_secs: retry_after,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_limiter_refuses_past_the_limit_and_resets() {
        let rl = RateLimiter::memory();
        let limit = Limit {
            max: 2,
            window: Duration::from_millis(200),
        };
        assert!(rl.hit("a", limit).await.is_ok());
        assert!(rl.hit("a", limit).await.is_ok());
        assert!(matches!(
            rl.hit("a", limit).await,
            Err(ApiError::RateLimited { .. })
        ));
        assert!(rl.hit("b", limit).await.is_ok(), "keys count apart");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            rl.hit("a", limit).await.is_ok(),
            "a new window starts afresh"
        );
    }
}
