//! Demo accounts, so a newcomer can try the API the moment the server starts. Seeding is
//! idempotent: an account whose phone number exists is left as it is.

use std::collections::BTreeSet;

use sea_orm::DatabaseConnection;

use crate::accounts::{self, AreaKind, AreaRef, NewAccount};
use crate::auth::roles::Role;
use crate::domain::{DisplayName, Password, Phone};

/// The password of every demo account. Demo data is for trying things out, never production.
pub const DEMO_PASSWORD: &str = "gridwing2026";

/// A demo account: phone, name, role, areas served.
type DemoAccount = (
    &'static str,
    &'static str,
    Role,
    &'static [(AreaKind, &'static str)],
);

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
];

/// Creates the demo accounts that do not exist yet and prints all of them.
pub async fn seed(db: &DatabaseConnection) -> anyhow::Result<()> {
    for &(phone, name, role, areas) in DEMO_ACCOUNTS {
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
            },
        )
        .await?;
    }
    println!("Demo accounts (password {DEMO_PASSWORD}):");
    for (phone, name, role, _) in DEMO_ACCOUNTS {
        println!("  {phone}  {:<12} {name}", role.as_str());
    }
    Ok(())
}
