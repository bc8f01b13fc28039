//! Demo data, so a newcomer can try the API the moment the server starts: an account for every
//! role, and a whole generated street (青山湖街道: 6 communities, 118 grids, 388 micro-grids,
//! 3,104 buildings with their units, teams). Seeding is idempotent: accounts whose phone exists
//! are left as they are, and the street is loaded only into a database without areas.

use std::collections::BTreeSet;
use std::time::Instant;

use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::accounts::{self, AreaKind, AreaRef, NewAccount};
use crate::auth::roles::Role;
use crate::domain::{DisplayName, Email, Password, Phone};
use crate::entities::areas as area_rows;
use crate::places::areas::{self, ImportMode};
use crate::places::buildings::{self, NewBuilding, NewUnit, Resident};
use crate::places::index::SharedIndex;
use crate::places::teams::{self, TeamKind, TeamSpec};

/// The password of every demo account. Demo data is for trying things out, never production.
pub const DEMO_PASSWORD: &str = "gridwing2026";

/// A demo account: phone, name, role, areas served.
type DemoAccount = (
    &'static str,
    &'static str,
    Role,
    &'static [(AreaKind, &'static str)],
);

/// Demo staff who receive mail (escalations): phone and address.
const DEMO_EMAILS: &[(&str, &str)] = &[("13800000002", "zhihui@qsh.example.cn")];

pub const DEMO_ACCOUNTS: &[DemoAccount] = &[
    ("13800000001", "管理员", Role::Admin, &[]),
    (
        "13800000002",
        "指挥中心值班员",
        Role::Dispatcher,
        &[(AreaKind::Street, "QSH")],
    ),
    (
        "13800000003",
        "王网格",
        Role::GridWorker,
        &[(AreaKind::Grid, "QSH-G001")],
    ),
    (
        "13800000004",
        "李调解",
        Role::TeamMember,
        &[(AreaKind::Team, "QSH-MED-01")],
    ),
    (
        "13800000005",
        "赵志愿",
        Role::Coordinator,
        &[(AreaKind::Street, "QSH")],
    ),
    ("13800000006", "陈居民", Role::Citizen, &[]),
    (
        "13800000007",
        "孙网格",
        Role::GridWorker,
        &[(AreaKind::Grid, "QSH-G002")],
    ),
];

/// Teams of the demo street: code, name, kind, areas, categories.
type DemoTeam = (
    &'static str,
    &'static str,
    TeamKind,
    &'static [&'static str],
    &'static [&'static str],
);

const DEMO_TEAMS: &[DemoTeam] = &[
    (
        "QSH-MED-01",
        "青山湖街道人民调解委员会",
        TeamKind::Mediation,
        &["QSH"],
        &["dispute.family", "dispute.labour", "dispute.neighbour"],
    ),
    (
        "QSH-ENF-01",
        "青山湖街道综合执法队",
        TeamKind::Enforcement,
        &["QSH"],
        &["city.illegal_building", "city.street_vending"],
    ),
    (
        "QSH-FIRE-01",
        "青山村微型消防站",
        TeamKind::FireStation,
        &["QSH-C01"],
        &["safety.fire_risk"],
    ),
];

/// Creates the demo accounts that do not exist yet and prints all of them.
pub async fn seed(db: &DatabaseConnection) -> anyhow::Result<()> {
    for &(phone, name, role, areas) in DEMO_ACCOUNTS {
        let email = DEMO_EMAILS
            .iter()
            .find(|(p, _)| *p == phone)
            .map(|(_, e)| Email::parse("email", e))
            .transpose()?;
        let phone = Phone::parse("phone", phone)?;
        if accounts::find_by_phone(db, &phone).await?.is_some() {
            continue;
        }
        accounts::create(
            db,
            NewAccount {
                password: Password::parse("password", DEMO_PASSWORD, Some(&phone))?,
                phone,
                name: DisplayName::parse("name", name)?,
                roles: BTreeSet::from([role]),
                areas: areas
                    .iter()
                    .map(|&(kind, code)| AreaRef {
                        kind,
                        code: code.to_owned(),
                    })
                    .collect(),
                email,
            },
        )
        .await?;
    }
    println!("Demo accounts (password {DEMO_PASSWORD}):");
    for (phone, name, role, areas) in DEMO_ACCOUNTS {
        let served: Vec<&str> = areas.iter().map(|(_, code)| *code).collect();
        println!(
            "  {phone}  {:<12} {name} {}",
            role.as_str(),
            served.join(" ")
        );
    }
    Ok(())
}

/// Loads the demo street, its buildings and teams into a database that has no areas yet.
pub async fn seed_street(db: &DatabaseConnection, index: &SharedIndex) -> anyhow::Result<()> {
    if area_rows::Entity::find().count(db).await? > 0 {
        return Ok(());
    }
    let started = Instant::now();
    let street = places::demo_street::generate(&places::demo_street::DemoParams::qingshanhu());
    let bytes = serde_json::to_vec(&street.areas)?;
    let report = areas::import(
        db,
        index,
        bytes,
        ImportMode::Replace,
        Box::new(|_, _, _| {}),
    )
    .await
    .map_err(|e| anyhow::anyhow!("importing the demo street: {}", e.problem().detail))?;
    for &(code, name, kind, areas, categories) in DEMO_TEAMS {
        let spec = TeamSpec {
            name: name.to_owned(),
            kind,
            areas: areas.iter().map(|a| (*a).to_owned()).collect(),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        };
        teams::create(db, code.to_owned(), spec)
            .await
            .map_err(|e| anyhow::anyhow!("creating team {code}: {}", e.problem().detail))?;
    }
    let count = street.buildings.len();
    let new: Vec<NewBuilding> = street
        .buildings
        .into_iter()
        .map(|b| NewBuilding {
            code: b.code,
            name: b.name,
            address: b.address,
            location: b.location,
            floors: i32::try_from(b.floors).ok(),
            notes: None,
            units: b
                .units
                .into_iter()
                .map(|u| NewUnit {
                    number: u.number,
                    floor: Some(u.floor),
                    residents: u
                        .residents
                        .into_iter()
                        .map(|r| Resident {
                            name: r.name,
                            phone: Some(r.phone),
                            id_number: Some(r.id_number),
                            relation: Some(r.relation),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    buildings::create_many(db, &index.get(), new)
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo buildings: {}", e.problem().detail))?;
    seed_community(db, &index.get())
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo volunteers: {}", e.problem().detail))?;
    println!(
        "Demo street {} loaded in {:.1} s: {} areas, {} teams, {count} buildings with units \
         (try GET /api/v1/areas/locate?lat=30.25&lng=119.72), a volunteer team and an activity \
         (GET /api/v1/activities)",
        report.street,
        started.elapsed().as_secs_f64(),
        report.written,
        DEMO_TEAMS.len(),
    );
    Ok(())
}

/// The demo citizen as a volunteer of grid QSH-G001 leading 红乔先锋, and an activity of
/// next Saturday's morning with places and a waitlist, so signups can be tried at once.
async fn seed_community(
    db: &DatabaseConnection,
    index: &places::locate::LocateIndex,
) -> crate::error::ApiResult<()> {
    use crate::community::{activities, volunteers};
    use chrono::{Datelike, Duration, TimeZone};
    let phone = |p: &str| Phone::parse("phone", p);
    let (Some(citizen), Some(coordinator)) = (
        accounts::find_by_phone(db, &phone("13800000006")?).await?,
        accounts::find_by_phone(db, &phone("13800000005")?).await?,
    ) else {
        return Ok(());
    };
    volunteers::register(
        db,
        citizen.id,
        volunteers::VolunteerSpec {
            skills: BTreeSet::from(["急救".to_owned(), "垃圾分类".to_owned()]),
            areas: vec!["QSH-G001".to_owned()],
            bio: None,
        },
    )
    .await?;
    volunteers::create_team(
        db,
        coordinator.id,
        volunteers::TeamSpec {
            code: "HQXF".into(),
            name: "红乔先锋".into(),
            area: Some("QSH".into()),
            requires_approval: false,
            leaders: BTreeSet::from([citizen.id]),
        },
    )
    .await?;
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600)
        .ok_or_else(|| anyhow::anyhow!("UTC+8 is a valid offset"))?;
    let today = chrono::Utc::now().with_timezone(&shanghai).date_naive();
    // Next Saturday, a week ahead when today is one.
    let ahead = match (6 + 7 - today.weekday().num_days_from_sunday()) % 7 {
        0 => 7,
        d => d,
    };
    let saturday = today + Duration::days(i64::from(ahead));
    let at = |hour: u32| {
        shanghai
            .from_local_datetime(&saturday.and_hms_opt(hour, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    };
    activities::create(
        db,
        index,
        coordinator.id,
        activities::ActivitySpec {
            title: "周末垃圾分类督导".into(),
            kind: activities::ActivityKind::Service,
            description: "在青山村各投放点督导分类投放，每班两小时。".into(),
            area: Some("QSH-C01".into()),
            team: None,
            skill: None,
            points_per_hour: 10,
            shifts: vec![
                activities::ShiftSpec {
                    starts_at: at(8),
                    ends_at: at(10),
                    capacity: 20,
                    waitlist: true,
                },
                activities::ShiftSpec {
                    starts_at: at(10),
                    ends_at: at(12),
                    capacity: 20,
                    waitlist: false,
                },
            ],
        },
    )
    .await?;
    Ok(())
}

/// The demo street's code.
pub const DEMO_STREET: &str = "QSH";

/// Simulates `events` events over last month on the demo street (see [`crate::simulate`]),
/// once: nothing when `events` is 0 or the month already has events.
pub async fn seed_month(db: &DatabaseConnection, events: u64) -> anyhow::Result<()> {
    if events == 0 {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let month = crate::reviews::month::Month::of(now).previous();
    let fail = |e: crate::error::ApiError| anyhow::anyhow!("{}", e.problem().detail);
    if crate::simulate::has_events(db, DEMO_STREET, month)
        .await
        .map_err(fail)?
    {
        return Ok(());
    }
    let started = Instant::now();
    let done = crate::simulate::month(db, DEMO_STREET, month, events, 2026, now)
        .await
        .map_err(fail)?;
    println!(
        "Simulated {month} on the demo street: {} events ({} closed, {} refused), {} days of health, in {:.1} s",
        done.events,
        done.closed,
        done.rejected,
        done.days,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `n` signed-in citizens at once, for load tests and benchmarks of a crowd (a recruitment
/// drive's 25,000 signups): their rows and login sessions are written straight to the database,
/// since argon2 for each would take minutes, and their access tokens issued as a login would.
/// Phones are `prefix` (3 digits) and 8 more; each gets the email `<phone>@example.cn`. The
/// accounts cannot log in with a password.
pub async fn crowd(
    db: &DatabaseConnection,
    jwt: &crate::auth::jwt::JwtKeys,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<(uuid::Uuid, String)>> {
    use crate::entities::{sessions, user_roles, users};
    use sea_orm::Set;
    use uuid::Uuid;
    anyhow::ensure!(
        prefix.len() == 3 && prefix.bytes().all(|b| b.is_ascii_digit()),
        "a crowd's phone prefix is 3 digits"
    );
    let now = chrono::Utc::now();
    let people: Vec<(Uuid, Uuid, String)> = (0..n)
        .map(|i| (Uuid::now_v7(), Uuid::now_v7(), format!("{prefix}{i:08}")))
        .collect();
    for chunk in people.chunks(500) {
        users::Entity::insert_many(chunk.iter().map(|(id, _, phone)| users::ActiveModel {
            id: Set(*id),
            phone: Set(phone.clone()),
            name: Set(format!("居民{}", &phone[7..])),
            // Not a hash of anything, so no password opens these accounts.
            password_hash: Set("!".into()),
            disabled: Set(false),
            email: Set(Some(format!("{phone}@example.cn"))),
            created_at: Set(now),
            updated_at: Set(now),
        }))
        .exec(db)
        .await?;
        user_roles::Entity::insert_many(chunk.iter().map(|(id, _, _)| user_roles::ActiveModel {
            user_id: Set(*id),
            role: Set(Role::Citizen.as_str().to_owned()),
        }))
        .exec(db)
        .await?;
        sessions::Entity::insert_many(chunk.iter().map(|(id, sid, _)| sessions::ActiveModel {
            id: Set(*sid),
            user_id: Set(*id),
            created_at: Set(now),
            expires_at: Set(now + chrono::Duration::days(1)),
            revoked_at: Set(None),
            revoked_reason: Set(None),
        }))
        .exec(db)
        .await?;
    }
    people
        .into_iter()
        .map(|(id, sid, _)| Ok((id, jwt.issue(id, sid, &[Role::Citizen])?)))
        .collect()
}
