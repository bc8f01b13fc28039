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
    println!(
        "Demo street {} loaded in {:.1} s: {} areas, {} teams, {count} buildings with units \
         (try GET /api/v1/areas/locate?lat=30.25&lng=119.72)",
        report.street,
        started.elapsed().as_secs_f64(),
        report.written,
        DEMO_TEAMS.len(),
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
