//! What each `gridwing` subcommand does.

use std::collections::BTreeSet;
use std::net::TcpListener;

use anyhow::Context;

use crate::accounts::{self, AreaRef, NewAccount};
use crate::auth::roles::Role;
use crate::auth::tokens;
use crate::config::{
    AreasCommand, BuildingsCommand, Cli, Command, DbArgs, HealthCommand, ImportModeArg, PdfArgs,
    ReviewsCommand, ServeArgs, UserAddArgs, UserCommand,
};
use crate::domain::{DisplayName, Email, Password, Phone};
use crate::places::areas::{self, ImportMode};
use crate::places::index::SharedIndex;
use crate::places::qr_keys::{self, QrKeys};
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
            let conn = migrated(&args.db).await?;
            demo::seed(&conn).await?;
            demo::seed_street(&conn, &SharedIndex::default()).await?;
            demo::seed_month(&conn, args.month).await
        }
        Command::Areas { command } => areas_command(command).await,
        Command::Buildings { command } => buildings_command(command).await,
        Command::Health {
            command: HealthCommand::Recompute { db, street, grid },
        } => health_recompute(&db, street.as_deref(), &grid).await,
        Command::Reviews {
            command:
                ReviewsCommand::Generate {
                    db,
                    pdf,
                    street,
                    month,
                    files,
                },
        } => reviews_generate(&db, &pdf, &street, &month, files.as_deref()).await,
        Command::Openapi => {
            print!("{}", routes::openapi_pretty());
            Ok(())
        }
    }
}

/// `gridwing health recompute`: every grid (of a street), or the grids named; says how long each
/// took, which is what the health benchmark reads.
async fn health_recompute(
    db: &DbArgs,
    street: Option<&str>,
    grids: &[String],
) -> anyhow::Result<()> {
    let conn = migrated(db).await?;
    let fail = |e: crate::error::ApiError| anyhow::anyhow!("{}", e.problem().detail);
    for code in grids {
        let started = std::time::Instant::now();
        let refreshed = crate::health::store::refresh_code(&conn, code, chrono::Utc::now())
            .await
            .map_err(fail)?
            .ok_or_else(|| anyhow::anyhow!("{code} is not a grid"))?;
        println!(
            "grid {code} recomputed in {:.1} ms: {}",
            started.elapsed().as_secs_f64() * 1000.0,
            refreshed.colour.as_str()
        );
    }
    if !grids.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let done = crate::health::store::refresh_all(&conn, street, chrono::Utc::now())
        .await
        .map_err(fail)?;
    println!(
        "{} grids recomputed in {:.2} s, {} changed colour",
        done.grids,
        started.elapsed().as_secs_f64(),
        done.changed
    );
    Ok(())
}

/// `gridwing reviews generate`: the street's month generated, then its PDFs written on every
/// core; prints both durations (what the monthly review benchmark reads).
async fn reviews_generate(
    db: &DbArgs,
    pdf: &PdfArgs,
    street: &str,
    month: &str,
    files: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let fail = |e: crate::error::ApiError| anyhow::anyhow!("{}", e.problem().detail);
    let month = crate::reviews::month::Month::parse("month", month)
        .map_err(|_| anyhow::anyhow!("--month: a month as YYYY-MM"))?;
    // The font first: a missing one fails before any work.
    let font = match files {
        Some(_) => Some(std::sync::Arc::new(
            documents::PdfFont::discover(pdf.pdf_font.as_deref())
                .map_err(|e| anyhow::anyhow!("--pdf-font: {e}"))?,
        )),
        None => None,
    };
    let conn = migrated(db).await?;
    let started = std::time::Instant::now();
    let made = crate::reviews::printing::generate_street_month(&conn, street, month)
        .await
        .map_err(fail)?;
    println!(
        "{made} reviews of {street} {month} generated in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    if let (Some(dir), Some(font)) = (files, font) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let started = std::time::Instant::now();
        let written = crate::reviews::printing::write_pdfs(&conn, street, month, dir, font)
            .await
            .map_err(fail)?;
        println!(
            "{} PDFs written in {:.2} s ({:.1} MB)",
            written.files,
            started.elapsed().as_secs_f64(),
            written.bytes as f64 / 1_048_576.0
        );
    }
    Ok(())
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
        .map(|r| Role::parse(r).map_err(|_| anyhow::anyhow!("--role {r}: unknown role")))
        .collect::<anyhow::Result<BTreeSet<Role>>>()?;
    let areas = args
        .areas
        .iter()
        .map(|a| AreaRef::parse_cli(a).map_err(|e| anyhow::anyhow!("--area {e}")))
        .collect::<anyhow::Result<BTreeSet<AreaRef>>>()?;
    let email = args
        .email
        .as_deref()
        .map(|e| {
            Email::parse("email", e).map_err(|e| anyhow::anyhow!("--email: {}", e.problem().detail))
        })
        .transpose()?;
    let (raw_password, generated) = match args.password {
        Some(p) => (p, false),
        None => (generated_password()?, true),
    };
    let password = Password::parse("password", &raw_password, Some(&phone)).map_err(|e| {
        let rules: Vec<String> = e.problem().errors.into_iter().map(|f| f.message).collect();
        anyhow::anyhow!("--password: {}", rules.join("; "))
    })?;
    let conn = migrated(&args.db).await?;
    let listed: Vec<_> = areas.iter().cloned().collect();
    accounts::check_areas_exist(&conn, &listed)
        .await
        .map_err(|e| {
            let why: Vec<String> = e.problem().errors.into_iter().map(|f| f.message).collect();
            anyhow::anyhow!("--area: {}", why.join("; "))
        })?;
    let user = accounts::create(
        &conn,
        NewAccount {
            phone,
            name,
            password,
            roles,
            areas,
            email,
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

async fn areas_command(command: AreasCommand) -> anyhow::Result<()> {
    match command {
        AreasCommand::Import { db, file, mode } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let conn = migrated(&db).await?;
            let mode = match mode {
                ImportModeArg::Replace => ImportMode::Replace,
                ImportModeArg::Update => ImportMode::Update,
            };
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let shown = bar.clone();
            let progress = Box::new(move |phase: &str, done: usize, total: usize| {
                shown.set_message(phase.to_owned());
                shown.set_length(total as u64);
                shown.set_position(done as u64);
            });
            let result = areas::import(&conn, &SharedIndex::default(), bytes, mode, progress).await;
            bar.finish_and_clear();
            match result {
                Ok(r) => {
                    println!(
                        "imported street {}: {} areas written, {} removed, {} buildings moved to another micro-grid",
                        r.street, r.written, r.removed, r.buildings_moved
                    );
                    Ok(())
                }
                Err(e) => {
                    let problem = e.problem();
                    eprintln!("{}: nothing was changed", problem.detail);
                    for f in &problem.errors {
                        eprintln!("  {} {}", f.field, f.message);
                    }
                    anyhow::bail!("import refused ({} problems)", problem.errors.len().max(1))
                }
            }
        }
        AreasCommand::Export { db, street, out } => {
            let conn = migrated(&db).await?;
            let doc = areas::export(&conn, &street)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?;
            let text = serde_json::to_string_pretty(&doc)?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(())
        }
    }
}

async fn buildings_command(command: BuildingsCommand) -> anyhow::Result<()> {
    match command {
        BuildingsCommand::QrSheet { db, grid, out, pdf } => {
            let font = documents::PdfFont::discover(pdf.pdf_font.as_deref())?;
            let conn = migrated(&db).await?;
            let keys = QrKeys::load(&conn).await?;
            let rows = crate::places::buildings::of_grid(&conn, &grid)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?;
            if rows.is_empty() {
                anyhow::bail!("grid {grid} has no buildings");
            }
            let entries: Vec<places::qr::SheetEntry> = rows
                .iter()
                .map(|b| places::qr::SheetEntry {
                    payload: keys.sign(&b.code),
                    code: b.code.clone(),
                    label: b.name.clone(),
                })
                .collect();
            let pdf = places::qr::render_sheet_pdf(&font, &format!("{grid} 屋联码"), &entries)
                .map_err(|e| anyhow::anyhow!("rendering the sheet: {e}"))?;
            std::fs::write(&out, pdf).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{} codes of grid {grid} written to {}",
                entries.len(),
                out.display()
            );
            Ok(())
        }
        BuildingsCommand::QrPayload { db, code } => {
            let conn = migrated(&db).await?;
            let keys = QrKeys::load(&conn).await?;
            let b = crate::places::buildings::find(&conn, &code)
                .await
                .map_err(|e| anyhow::anyhow!("{code}: {}", e.problem().detail))?;
            println!("{}", keys.sign(&b.code));
            Ok(())
        }
        BuildingsCommand::QrRotate(db) => {
            let conn = migrated(&db).await?;
            let version = qr_keys::rotate(&conn).await?;
            println!("QR signing key version {version} added; restart instances to sign with it");
            Ok(())
        }
    }
}
