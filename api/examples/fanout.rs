//! Fan-out benchmark client: opens many websocket connections to `/api/v1/live` as workers of one
//! grid, posts events into that grid over HTTP, and measures for every (event, connection) pair
//! the time from the post to the push's arrival, which bounds the time from the event's commit
//! to receipt. Prints p50/p99/max and how many pushes arrived.
//!
//! Usage: `fanout BASE_URL WORKER_TOKEN CITIZEN_TOKEN CONNECTIONS EVENTS LAT LNG SERVER_PID`
//! (`scripts/bench/fanout` starts a server and passes all of these). The server's resident
//! memory is read from /proc before and after the connections open, for the cost of one.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Arrival instants of each event id, across all connections. A plain mutex: the push under it
/// is short, and the client must cost as little as it can, since it shares the cores with the
/// server it measures.
type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

/// The two fields of a push the client looks at; the rest of the frame is skipped, not built.
#[derive(serde::Deserialize)]
struct Push<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    event_id: Cow<'a, str>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, worker, citizen, conns, events, lat, lng, pid] = args.as_slice() else {
        return Err("usage: fanout BASE_URL WORKER_TOKEN CITIZEN_TOKEN CONNECTIONS EVENTS LAT LNG SERVER_PID".into());
    };
    let rss_before = rss_kib(pid);
    let conns: usize = conns.parse()?;
    let events: usize = events.parse()?;
    let ws_base = base.replacen("http", "ws", 1);
    let arrivals: Arrivals = Arc::new(Mutex::new(Vec::with_capacity(conns * events)));
    let connected = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let mut readers = Vec::with_capacity(conns);
    // Connect in waves so the listener's backlog is not overrun.
    for wave in (0..conns).collect::<Vec<_>>().chunks(500) {
        let mut opening = Vec::new();
        for _ in wave {
            let url = format!("{ws_base}/api/v1/live?token={worker}");
            opening.push(tokio::spawn(async move {
                tokio_tungstenite::connect_async(url).await
            }));
        }
        for o in opening {
            let (ws, _) = o.await??;
            connected.fetch_add(1, Ordering::Relaxed);
            let arrivals = arrivals.clone();
            readers.push(tokio::spawn(async move {
                let (_, mut read) = ws.split();
                while let Some(Ok(msg)) = read.next().await {
                    if let Message::Text(text) = msg {
                        let now = Instant::now();
                        if let Ok(p) = serde_json::from_str::<Push>(&text)
                            && p.kind == "event.created"
                            && let Ok(mut a) = arrivals.lock()
                        {
                            a.push((p.event_id.into_owned(), now));
                        }
                    }
                }
            }));
        }
    }
    println!(
        "{} connections open in {:.1} s",
        connected.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(pid);
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        println!(
            "server memory: {:.1} MiB before, {:.1} MiB with the connections open: {:.1} KiB per connection",
            a as f64 / 1024.0,
            b as f64 / 1024.0,
            (b.saturating_sub(a)) as f64 / conns.max(1) as f64
        );
    }

    let client = reqwest::Client::new();
    let mut sent = Vec::with_capacity(events);
    for i in 0..events {
        let body = serde_json::json!({
            "id": uuid::Uuid::new_v4(),
            "category": "environment.garbage",
            "description": format!("扇出压测 {i}"),
            "lat": lat.parse::<f64>()?,
            "lng": lng.parse::<f64>()?,
        });
        let t0 = Instant::now();
        let res = client
            .post(format!("{base}/api/v1/events"))
            .bearer_auth(citizen)
            .json(&body)
            .send()
            .await?;
        let v: serde_json::Value = res.json().await?;
        let id = v["id"]
            .as_str()
            .ok_or("no event id in the answer")?
            .to_owned();
        sent.push((id, t0));
        // Events a few hundred ms apart: each push wave is measured on its own.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let got = arrivals.lock().map_err(|_| "arrivals poisoned")?.clone();
    let mut latencies: Vec<f64> = Vec::with_capacity(got.len());
    for (id, t0) in &sent {
        for (_, at) in got.iter().filter(|(g, _)| g == id) {
            latencies.push(at.duration_since(*t0).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "pushes received: {} of {} ({} events × {} connections)",
        latencies.len(),
        events * conns,
        events,
        conns
    );
    println!(
        "post → receipt at every worker: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    for r in readers {
        r.abort();
    }
    Ok(())
}

/// Resident memory of a process, in KiB, from /proc (Linux).
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
