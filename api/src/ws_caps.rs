//! How many websockets (`/api/v1/sync` and `/api/v1/live` together) a user, a client address and
//! the whole instance may hold open. Each connection takes a [`Slot`] before its upgrade is
//! answered, so one over a cap is refused with a 429 before it costs a socket's buffers and a
//! task; the slot is given back when it is dropped, on whatever path the connection ends
//! (closed, broken, timed out, or the task unwinding). Counted per instance: each instance
//! guards its own file handles and memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::error::ApiError;

/// How long a refused client is told to wait: connections end when their peers go, or at the
/// latest when they stop answering pings.
const RETRY_AFTER_SECS: u64 = 10;

/// The caps; 0 means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_user: usize,
    pub per_addr: usize,
    pub total: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    users: HashMap<Uuid, usize>,
    addrs: HashMap<IpAddr, usize>,
}

/// The open websockets of an instance.
pub struct WsCaps {
    caps: Caps,
    /// None when no cap is set: nothing to count then.
    counts: Option<Arc<Mutex<Counts>>>,
}

/// One open websocket, counted until dropped.
pub struct Slot {
    counts: Option<Arc<Mutex<Counts>>>,
    user: Uuid,
    addr: Option<IpAddr>,
}

/// Which cap a connection met.
fn over(which: &'static str) -> ApiError {
    ApiError::TooManyConnections {
        which,
        retry_after_secs: RETRY_AFTER_SECS,
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    // A panic while the lock is held cannot leave the counts half-changed (each change is one
    // statement), so a poisoned lock is still right.
    counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WsCaps {
    pub fn new(caps: Caps) -> Self {
        let uncapped = caps.per_user == 0 && caps.per_addr == 0 && caps.total == 0;
        Self {
            caps,
            counts: (!uncapped).then(Arc::default),
        }
    }

    /// Takes a slot for a websocket of `user` from `addr`, or refuses (429) when that would
    /// exceed a cap.
    pub fn acquire(&self, user: Uuid, addr: Option<IpAddr>) -> Result<Slot, ApiError> {
        let capped = |cap: usize, n: usize| cap != 0 && n >= cap;
        let Some(counts) = &self.counts else {
            return Ok(Slot {
                counts: None,
                user,
                addr,
            });
        };
        let mut c = lock(counts);
        if capped(self.caps.total, c.total) {
            return Err(over("this server"));
        }
        if capped(self.caps.per_user, c.users.get(&user).copied().unwrap_or(0)) {
            return Err(over("your account"));
        }
        if let Some(a) = addr
            && capped(self.caps.per_addr, c.addrs.get(&a).copied().unwrap_or(0))
        {
            return Err(over("your address"));
        }
        c.total += 1;
        *c.users.entry(user).or_default() += 1;
        if let Some(a) = addr {
            *c.addrs.entry(a).or_default() += 1;
        }
        Ok(Slot {
            counts: Some(counts.clone()),
            user,
            addr,
        })
    }

    /// Open websockets: in total, of `user`, from `addr` (all 0 when nothing is capped).
    pub fn open(&self, user: Uuid, addr: Option<IpAddr>) -> (usize, usize, usize) {
        let Some(counts) = &self.counts else {
            return (0, 0, 0);
        };
        let c = lock(counts);
        (
            c.total,
            c.users.get(&user).copied().unwrap_or(0),
            addr.and_then(|a| c.addrs.get(&a).copied()).unwrap_or(0),
        )
    }
}

impl Slot {
    /// Runs a connection's task holding this slot: it goes back when the task ends, however
    /// it ends.
    pub fn hold<F: std::future::Future>(self, connection: F) -> Held<F> {
        Held {
            connection,
            _slot: self,
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection's task with its slot. A future of its own rather than an `async fn`, which
    /// would keep the connection's future twice (the argument and the awaited copy) for as long
    /// as the connection lives.
    pub struct Held<F> {
        #[pin]
        connection: F,
        _slot: Slot,
    }
}

impl<F: std::future::Future> std::future::Future for Held<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.project().connection.poll(cx)
    }
}

/// The slot a websocket upgrade of `user` from `addr` needs, taken before the upgrade is
/// answered.
pub fn take(
    caps: &WsCaps,
    addr: Option<IpAddr>,
    user: &crate::auth::user::CurrentUser,
) -> Result<Slot, ApiError> {
    caps.acquire(user.id, addr).inspect_err(|e| {
        tracing::info!(user = %user.id, addr = ?addr, error = %e, "websocket refused");
    })
}

/// Takes one away from a count, forgetting keys that reach zero so the maps hold only open
/// connections.
fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(counts) = &self.counts else {
            return;
        };
        let mut c = lock(counts);
        c.total = c.total.saturating_sub(1);
        release(&mut c.users, &self.user);
        if let Some(a) = self.addr {
            release(&mut c.addrs, &a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_connection_keeps_its_future_once() {
        // What every open websocket's task is: the connection's future and its slot, side by
        // side; an `async` wrapper would keep the future twice while awaiting it.
        type Connection = std::future::Ready<[u8; 1024]>;
        let held = std::mem::size_of::<Held<Connection>>();
        let parts = std::mem::size_of::<Connection>() + std::mem::size_of::<Slot>();
        assert!(
            held <= parts + 8,
            "{held} bytes held for {parts} bytes of parts"
        );
    }

    fn which(r: Result<Slot, ApiError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(ApiError::TooManyConnections { which, .. }) => which,
            Err(_) => "other",
        }
    }

    #[test]
    fn each_cap_holds_and_a_dropped_slot_frees_its_place() {
        let caps = WsCaps::new(Caps {
            per_user: 2,
            per_addr: 2,
            total: 4,
        });
        let (alice, bob, carol) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let [here, there, elsewhere] = [1, 2, 3].map(|n| Some(IpAddr::from([203, 0, 113, n])));
        let a1 = caps.acquire(alice, here);
        let a2 = caps.acquire(alice, there);
        assert_eq!(which(caps.acquire(alice, elsewhere)), "your account");
        let b1 = caps.acquire(bob, here);
        assert_eq!(which(caps.acquire(carol, here)), "your address");
        let c1 = caps.acquire(carol, elsewhere);
        assert_eq!(which(caps.acquire(bob, None)), "this server");
        assert_eq!(caps.open(alice, here), (4, 2, 2));
        drop(a1);
        assert_eq!(caps.open(alice, here), (3, 1, 1));
        assert_eq!(which(caps.acquire(carol, here)), "ok", "the slot went back");
        drop((a2, b1, c1));
        let counts = caps.counts.clone().ok_or("the caps were not counted");
        let c = counts.as_deref().map(lock);
        assert_eq!(
            c.map(|c| (c.total, c.users.len(), c.addrs.len())),
            Ok((0, 0, 0))
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let caps = WsCaps::new(Caps {
            per_user: 0,
            per_addr: 0,
            total: 0,
        });
        let user = Uuid::new_v4();
        let slots: Vec<_> = (0..100).map(|_| caps.acquire(user, None)).collect();
        assert!(slots.iter().all(Result::is_ok));
    }
}
