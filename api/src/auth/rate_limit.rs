//! Throttles for login and registration: growing delays rather than lock-outs. Each key (an
//! account seen from one address, or one address) may fail a number of times freely; from then
//! on each further attempt must wait, the wait doubling with every failure up to a cap, and the
//! failures are forgotten after a quiet spell. An attempt is counted as failed when it starts,
//! so a burst of simultaneous guesses cannot all slip in before the first one is counted; one
//! that succeeds takes its count back ([`RateLimiter::forgive`]).
//!
//! Keys never name an account alone: anyone can guess an account's phone number, and a limit on
//! the account would let them lock its owner out. The owner logging in from another address
//! does so unhindered.
//!
//! In memory for one instance; in Redis (one small Lua script per attempt) when `REDIS_URL` is
//! set, so every instance behind a load balancer counts the same attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::time::Instant;

use crate::error::ApiError;

/// How a key is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Failures allowed before attempts must wait.
    pub free: u32,
    /// The first wait; each further failure doubles it.
    pub delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// Failures are forgotten this long after the last wait ends.
    pub memory: Duration,
}

impl Rule {
    /// The wait after the `failures`-th failure: none while free, then `delay`, doubling, up
    /// to `max_delay`.
    pub fn wait_after(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(32);
        self.delay
            .saturating_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
            .min(self.max_delay)
    }
}

/// What the limiter remembers of one key.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    failures: u32,
    /// When the last counted attempt started.
    last: Instant,
    /// No attempt before this.
    wait_until: Instant,
    /// Forgotten after this.
    expires: Instant,
}

/// Where the counters live.
pub enum RateLimiter {
    Memory(Mutex<HashMap<String, Record>>),
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
}

/// Above this many keys the in-memory limiter drops forgotten ones before counting.
const PRUNE_AT: usize = 10_000;

/// The wait after `n` failures, as [`Rule::wait_after`] computes it: ARGV[1..3] are free, delay
/// ms and max delay ms. A record is a hash: `n` failures, `l` the last counted attempt, `u` no
/// attempt before. Times are Redis's own clock, so instances whose clocks differ agree.
const WAIT: &str = r"
local function wait_after(n)
  local free = tonumber(ARGV[1])
  if n < free then return 0 end
  return math.min(tonumber(ARGV[2]) * 2 ^ math.min(n - free, 32), tonumber(ARGV[3]))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS[1]; ARGV: free, delay ms, max delay ms, memory ms. Returns 0 when the attempt may go
/// ahead (and counts it), else the milliseconds left to wait.
const ATTEMPT: &str = r"
local rec = redis.call('HMGET', KEYS[1], 'n', 'u')
local n = tonumber(rec[1]) or 0
local u = tonumber(rec[2]) or 0
if u > now then return u - now end
n = n + 1
local wait = wait_after(n)
redis.call('HSET', KEYS[1], 'n', n, 'l', now, 'u', now + wait)
redis.call('PEXPIRE', KEYS[1], math.floor(wait + tonumber(ARGV[4])))
return 0
";

/// KEYS[1]; ARGV: free, delay ms, max delay ms, then 1 to forget the key or 0 to take one
/// failure back (and shorten the wait to what the failures left call for).
const FORGIVE: &str = r"
if ARGV[4] == '1' then return redis.call('DEL', KEYS[1]) end
local rec = redis.call('HMGET', KEYS[1], 'n', 'l', 'u')
if not rec[1] then return 0 end
local n = math.max(tonumber(rec[1]) - 1, 0)
local u = math.min(tonumber(rec[3]), tonumber(rec[2]) + wait_after(n))
redis.call('HSET', KEYS[1], 'n', n, 'u', u)
return 0
";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whole seconds to tell a client to wait, rounded up so it does not come back too early.
fn retry_after(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: wait.as_millis().div_ceil(1000).max(1) as u64,
    }
}

impl RateLimiter {
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(HashMap::new()))
    }

    /// Counts an attempt on `key` as failed, or refuses it (429 with the wait) while the key
    /// is waiting out the delay of earlier failures; a refused attempt is not counted.
    pub async fn attempt(&self, key: &str, rule: Rule) -> Result<(), ApiError> {
        match self {
            Self::Memory(map) => {
                let now = Instant::now();
                let mut map = map
                    .lock()
                    .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("rate limiter poisoned")))?;
                if map.len() > PRUNE_AT {
                    map.retain(|_, r| r.expires > now);
                }
                let fresh = Record {
                    failures: 0,
                    last: now,
                    wait_until: now,
                    expires: now,
                };
                let record = map.entry(key.to_owned()).or_insert(fresh);
                if record.expires <= now {
                    *record = fresh;
                }
                if record.wait_until > now {
                    return Err(retry_after(record.wait_until - now));
                }
                record.failures = record.failures.saturating_add(1);
                record.last = now;
                record.wait_until = now + rule.wait_after(record.failures);
                record.expires = record.wait_until + rule.memory;
                Ok(())
            }
            Self::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let wait_ms: u64 = redis::cmd("EVAL")
                    .arg(format!("{WAIT}{ATTEMPT}"))
                    .arg(1)
                    .arg(format!("{prefix}:rl:{key}"))
                    .arg(rule.free)
                    .arg(millis(rule.delay))
                    .arg(millis(rule.max_delay))
                    .arg(millis(rule.memory))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| ApiError::Unavailable(format!("rate limiter: {e}")))?;
                if wait_ms > 0 {
                    return Err(retry_after(Duration::from_millis(wait_ms)));
                }
                Ok(())
            }
        }
    }

    /// Takes back an attempt that turned out not to fail: with `reset`, every failure of the
    /// key is forgotten (the owner got in from this address); without, one is (an address
    /// that also hears wrong guesses keeps the rest), and the wait it started is undone.
    pub async fn forgive(&self, key: &str, rule: Rule, reset: bool) -> Result<(), ApiError> {
        match self {
            Self::Memory(map) => {
                let mut map = map
                    .lock()
                    .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("rate limiter poisoned")))?;
                if reset {
                    map.remove(key);
                } else if let Some(r) = map.get_mut(key) {
                    r.failures = r.failures.saturating_sub(1);
                    r.wait_until = r.wait_until.min(r.last + rule.wait_after(r.failures));
                }
                Ok(())
            }
            Self::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let _: i64 = redis::cmd("EVAL")
                    .arg(format!("{WAIT}{FORGIVE}"))
                    .arg(1)
                    .arg(format!("{prefix}:rl:{key}"))
                    .arg(rule.free)
                    .arg(millis(rule.delay))
                    .arg(millis(rule.max_delay))
                    .arg(if reset { "1" } else { "0" })
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| ApiError::Unavailable(format!("rate limiter: {e}")))?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        free: 3,
        delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(30),
        memory: Duration::from_secs(600),
    };

    fn wait_of(r: Result<(), ApiError>) -> Option<u64> {
        match r {
            Err(ApiError::RateLimited { retry_after_secs }) => Some(retry_after_secs),
            _ => None,
        }
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let waits: Vec<u64> = (1..=9).map(|n| RULE.wait_after(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(RULE.wait_after(u32::MAX), RULE.max_delay);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_make_a_key_wait_longer_and_longer() {
        let rl = RateLimiter::memory();
        assert!(rl.attempt("k", RULE).await.is_ok());
        assert!(rl.attempt("k", RULE).await.is_ok());
        // The third failure is the last free one: the next attempt waits 2 s, then 4 s.
        assert!(rl.attempt("k", RULE).await.is_ok());
        assert_eq!(wait_of(rl.attempt("k", RULE).await), Some(2));
        assert!(rl.attempt("other", RULE).await.is_ok(), "keys count apart");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(rl.attempt("k", RULE).await.is_ok());
        assert_eq!(wait_of(rl.attempt("k", RULE).await), Some(4));
        // Refused attempts do not count: waiting it out allows the next.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(rl.attempt("k", RULE).await.is_ok());
        assert_eq!(wait_of(rl.attempt("k", RULE).await), Some(8));
        // Forgotten after a quiet spell.
        tokio::time::advance(Duration::from_secs(8) + RULE.memory).await;
        for _ in 0..3 {
            assert!(rl.attempt("k", RULE).await.is_ok());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_takes_its_count_back() {
        let rl = RateLimiter::memory();
        for _ in 0..2 {
            assert!(rl.attempt("k", RULE).await.is_ok());
        }
        // One more attempt would be the last free one; it succeeds and is forgiven.
        assert!(rl.attempt("k", RULE).await.is_ok());
        assert!(rl.forgive("k", RULE, false).await.is_ok());
        assert!(rl.attempt("k", RULE).await.is_ok());
        assert!(wait_of(rl.attempt("k", RULE).await).is_some());
        // A reset forgets everything.
        assert!(rl.forgive("k", RULE, true).await.is_ok());
        for _ in 0..3 {
            assert!(rl.attempt("k", RULE).await.is_ok());
        }
    }
}
