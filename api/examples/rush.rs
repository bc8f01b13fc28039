//! Signup-rush benchmark client: a recruitment drive opens one shift of PLACES places and PEOPLE
//! different people sign up at once over HTTP, spread over the given servers. Prints signups/s,
//! p50/p99 latency, the answers by status, and the final counts read back from the database —
//! which must show exactly PLACES confirmed and nobody twice.
//!
//! Usage: `rush DATABASE_URL COORDINATOR_TOKEN PEOPLE PLACES CONCURRENCY WAITLIST BASE_URL...`
//! (`scripts/bench/signup` starts the servers and passes all of these). The people are made
//! with `demo::crowd` on the servers' database, signed with the servers' own JWT key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwing_api::auth::jwt::JwtKeys;
use gridwing_api::entities::{shifts, signups};
use sea_orm::{ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        db_url,
        coordinator,
        people,
        places,
        concurrency,
        waitlist,
        bases @ ..,
    ] = args.as_slice()
    else {
        return Err("usage: rush DATABASE_URL COORDINATOR_TOKEN PEOPLE PLACES CONCURRENCY WAITLIST BASE_URL...".into());
    };
    if bases.is_empty() {
        return Err("name at least one server".into());
    }
    let people: usize = people.parse()?;
    let places: i32 = places.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let waitlist: bool = waitlist.parse()?;

    let db = Database::connect(db_url.as_str()).await?;
    let secret = gridwing_api::secrets::get_or_create(&db, "jwt_hs256").await?;
    let jwt = JwtKeys::new(secret.as_bytes(), 3600);
    let made = Instant::now();
    let crowd = gridwing_api::demo::crowd(&db, &jwt, "199", people).await?;
    println!(
        "{people} people signed in in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let now = chrono::Utc::now();
    let activity: Value = client
        .post(format!("{}/api/v1/activities", bases[0]))
        .bearer_auth(coordinator)
        .json(&json!({
            "title": "志愿者招募：亚运城市志愿服务",
            "kind": "service",
            "shifts": [{
                "starts_at": now + chrono::Duration::days(1),
                "ends_at": now + chrono::Duration::days(1) + chrono::Duration::hours(4),
                "capacity": places,
                "waitlist": waitlist,
            }],
        }))
        .send()
        .await?
        .json()
        .await?;
    let shift = activity["shifts"][0]["id"]
        .as_str()
        .ok_or_else(|| format!("no shift in {activity}"))?
        .to_owned();

    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = Instant::now();
    let mut running = Vec::with_capacity(people);
    for (i, (_, token)) in crowd.into_iter().enumerate() {
        let url = format!("{}/api/v1/shifts/{shift}/signups", bases[i % bases.len()]);
        let (client, gate) = (client.clone(), gate.clone());
        running.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let sent = Instant::now();
            let res = client.post(url).bearer_auth(token).send().await?;
            let code = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or_default();
            let outcome = match code {
                200 | 201 => body["status"].as_str().unwrap_or("?").to_owned(),
                other => format!("{other} {}", body["type"].as_str().unwrap_or("")),
            };
            Ok::<_, BoxError>((outcome, sent.elapsed()))
        }));
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(people);
    for r in running {
        let (outcome, took) = r.await??;
        *outcomes.entry(outcome).or_default() += 1;
        latencies.push(took);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{people} signups for {places} places over {} server(s), {concurrency} at a time: {:.1} s, {:.0} signups/s, p50 {:.1} ms, p99 {:.1} ms",
        bases.len(),
        elapsed.as_secs_f64(),
        people as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
    );
    println!("answers: {outcomes:?}");

    let shift_id: uuid::Uuid = shift.parse()?;
    let count = |status: &'static str| {
        signups::Entity::find()
            .filter(signups::Column::ShiftId.eq(shift_id))
            .filter(signups::Column::Status.eq(status))
            .count(&db)
    };
    let confirmed = count("confirmed").await?;
    let waitlisted = count("waitlisted").await?;
    let taken = shifts::Entity::find_by_id(shift_id)
        .one(&db)
        .await?
        .map(|s| s.taken)
        .unwrap_or(-1);
    let oversold = confirmed as i64 - i64::from(places);
    println!(
        "final: {confirmed} confirmed, {waitlisted} waitlisted, shift.taken = {taken}; oversold: {}",
        oversold.max(0)
    );
    if confirmed != places as u64 || taken != places {
        return Err(format!("expected exactly {places} confirmed").into());
    }
    Ok(())
}
