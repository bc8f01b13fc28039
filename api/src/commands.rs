//! What each `gridwing` subcommand does.

use std::collections::BTreeSet;
use std::net::TcpListener;

use anyhow::Context;

use crate::accounts::{self, AreaRef, NewAccount};
use crate::auth::roles::Role;
use crate::auth::tokens;
use crate::config::{Cli, Command, DbArgs, ServeArgs, UserAddArgs, UserCommand};
use crate::domain::{DisplayName, Password, Phone};
use crate::{db, demo, routes, server};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) => {
            let conn = db::connect(&args).await?;
            db::migrate(&conn).await?;
            println!("migrations applied to {}", db::redact(&args.database_url));
            Ok(())
        }
        Command::User {
            command: UserCommand::Add(args),
        } => user_add(args).await,
        Command::Demo(args) => {
            let conn = migrated(&args).await?;
            demo::seed(&conn).await
        }
        Command::Openapi => {
            print!("{}", routes::openapi_pretty());
            Ok(())
        }
    }
}

async fn migrated(args: &DbArgs) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let conn = db::connect(args).await?;
    db::migrate(&conn).await?;
    Ok(conn)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(args.addr).with_context(|| format!("binding {}", args.addr))?;
    let running = server::start(args, listener).await?;
    println!("gridwing listening on http://{}", running.addr);
    server::run_until_signal(running).await
}

/// A password a person can type from a printout: letters and digits, 16 characters.
fn generated_password() -> anyhow::Result<String> {
    Ok(format!("Gw{}9", tokens::random_hex(7)?))
}

async fn user_add(args: UserAddArgs) -> anyhow::Result<()> {
    let phone = Phone::parse("phone", &args.phone)
        .map_err(|e| anyhow::anyhow!("--phone: {}", e.problem().detail))?;
    let name = DisplayName::parse("name", &args.name)
        .map_err(|e| anyhow::anyhow!("--name: {}", e.problem().detail))?;
    let roles = args
        .roles
        .iter()
        .map(|r| Role::parse(r).ok_or_else(|| anyhow::anyhow!("--role {r}: unknown role")))
        .collect::<anyhow::Result<BTreeSet<Role>>>()?;
    let areas = args
        .areas
        .iter()
        .map(|a| AreaRef::parse_cli(a).map_err(|e| anyhow::anyhow!("--area {e}")))
        .collect::<anyhow::Result<BTreeSet<AreaRef>>>()?;
    let (raw_password, generated) = match args.password {
        Some(p) => (p, false),
        None => (generated_password()?, true),
    };
    let password = Password::parse("password", &raw_password, Some(&phone)).map_err(|e| {
        let rules: Vec<String> = e.problem().errors.into_iter().map(|f| f.message).collect();
        anyhow::anyhow!("--password: {}", rules.join("; "))
    })?;
    let conn = migrated(&args.db).await?;
    let user = accounts::create(
        &conn,
        NewAccount {
            phone,
            name,
            password,
            roles,
            areas,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?;
    let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
    println!(
        "created user {} ({}) with roles {}",
        user.id,
        user.phone,
        roles.join(", ")
    );
    if generated {
        println!("password (shown once): {raw_password}");
    }
    Ok(())
}
