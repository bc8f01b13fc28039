//! The command line: every setting is a flag with an environment variable and a default that
//! works on a fresh machine (an SQLite file beside the working directory, no Redis).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::rate_limit::Rule;
use crate::client_addr::{ProxyNet, TrustedProxies};
use crate::ws_caps::Caps;

/// gridwing: the backend of a municipal grid-governance platform.
#[derive(Debug, Parser)]
#[command(name = "gridwing", version, about, long_about = None)]
pub struct Cli {
    /// Log format: `text` for people, `json` for log collectors. Filter with RUST_LOG.
    #[arg(long, env = "GRIDWING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Manage accounts from the command line (bootstraps the first admin).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Create the demo accounts and street (idempotent) and print the accounts.
    Demo(DemoArgs),
    /// The area tree: import a city's GeoJSON export, export it back.
    Areas {
        #[command(subcommand)]
        command: AreasCommand,
    },
    /// Buildings: printable QR sheets, QR key rotation.
    Buildings {
        #[command(subcommand)]
        command: BuildingsCommand,
    },
    /// Grid health (五色网格): recompute on demand.
    Health {
        #[command(subcommand)]
        command: HealthCommand,
    },
    /// Monthly reviews (网格月度研判报告): generate a street's month, write them as PDF files.
    Reviews {
        #[command(subcommand)]
        command: ReviewsCommand,
    },
    /// Print the OpenAPI document the server serves.
    Openapi,
}

/// Settings of `gridwing demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Also simulate this many events over last month (Asia/Shanghai) on the demo street, with
    /// their tasks, ratings and each day's health; once: skipped when the month has events.
    #[arg(long, default_value_t = 0)]
    pub month: u64,
}

#[derive(Debug, Subcommand)]
pub enum ReviewsCommand {
    /// Generate every review of a street's month that does not exist yet (as the monthly
    /// scheduler does), and with --files write each of the month's reviews (newest versions)
    /// as a PDF into a directory. Prints how long each part took.
    Generate {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        pdf: PdfArgs,
        /// The street's code.
        #[arg(long)]
        street: String,
        /// `YYYY-MM`, Asia/Shanghai; an ended or the current month.
        #[arg(long)]
        month: String,
        /// Write the PDFs here (created when missing).
        #[arg(long)]
        files: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// Recompute every grid's health now (as the nightly pass does), colour changes announced
    /// live as usual.
    Recompute {
        #[command(flatten)]
        db: DbArgs,
        /// Only this street's grids.
        #[arg(long, conflicts_with = "grid")]
        street: Option<String>,
        /// Only this grid, as a live row touching it does; repeat it for several, one after
        /// another over the same connections (each timed).
        #[arg(long)]
        grid: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with one or more roles.
    Add(UserAddArgs),
}

#[derive(Debug, Subcommand)]
pub enum AreasCommand {
    /// Check and import a GeoJSON FeatureCollection (WGS84) of one street's areas. Every bad
    /// feature is reported; with any error nothing changes.
    Import {
        #[command(flatten)]
        db: DbArgs,
        /// The GeoJSON file.
        file: std::path::PathBuf,
        /// `replace`: the file is the street's whole tree; `update`: add and change only.
        #[arg(long, value_enum, default_value_t = ImportModeArg::Replace)]
        mode: ImportModeArg,
    },
    /// Write a street's tree as GeoJSON, in the shape import takes.
    Export {
        #[command(flatten)]
        db: DbArgs,
        /// The street's code, e.g. QSH.
        #[arg(long)]
        street: String,
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportModeArg {
    Replace,
    Update,
}

#[derive(Debug, Subcommand)]
pub enum BuildingsCommand {
    /// Print a grid's building QR codes on A4 pages (PDF), 12 to a page, with codes and names.
    QrSheet {
        #[command(flatten)]
        db: DbArgs,
        /// The grid's code, e.g. QSH-G001.
        #[arg(long)]
        grid: String,
        /// The PDF to write.
        #[arg(long, default_value = "qr-sheet.pdf")]
        out: std::path::PathBuf,
        #[command(flatten)]
        pdf: PdfArgs,
    },
    /// Print the signed text a building's QR code carries (for printing elsewhere, and for
    /// load tests of scanning).
    QrPayload {
        #[command(flatten)]
        db: DbArgs,
        /// The building's code, e.g. QSH-B0001.
        #[arg(long)]
        code: String,
    },
    /// Add a new QR signing key version. Codes already printed keep working; instances sign new
    /// codes with it after their next start.
    QrRotate(DbArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Mobile number; it is the login name.
    #[arg(long)]
    pub phone: String,
    /// Display name, e.g. 张三.
    #[arg(long)]
    pub name: String,
    /// Role to grant; repeat for several: citizen, grid_worker, team_member, dispatcher,
    /// coordinator, admin.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// Area the user serves, as KIND:CODE (e.g. grid:QSH-G001, team:MED-01); repeatable.
    #[arg(long = "area")]
    pub areas: Vec<String>,
    /// Where mail for this user goes (escalations reach supervisors by mail).
    #[arg(long)]
    pub email: Option<String>,
    /// Password; when absent one is generated and printed once. Prefer the environment variable
    /// to keep it out of shell history.
    #[arg(long, env = "GRIDWING_NEW_USER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` (created on first start) or
    /// `postgres://user@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://gridwing.sqlite?mode=rwc"
    )]
    pub database_url: String,
    /// Largest number of pooled database connections per instance.
    #[arg(long, env = "GRIDWING_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

/// How PDF files get their Chinese font.
#[derive(Debug, Clone, Args)]
pub struct PdfArgs {
    /// TrueType/OpenType font (or collection: its first face) with Chinese glyphs that PDF files
    /// embed a subset of. When absent, a system font is used: WenQuanYi Micro Hei (Debian
    /// `fonts-wqy-microhei`) or Noto Sans CJK (`fonts-noto-cjk`); without any, PDF routes answer
    /// 503.
    #[arg(long, env = "GRIDWING_PDF_FONT")]
    pub pdf_font: Option<std::path::PathBuf>,
}

/// Settings of `gridwing serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRIDWING_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub pdf: PdfArgs,
    /// Redis URL (e.g. redis://127.0.0.1:6379). When set, rate limits and (later) the live bus
    /// are shared by every instance; readiness then also checks Redis.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(long, env = "GRIDWING_REDIS_PREFIX", default_value = "gridwing")]
    pub redis_prefix: String,
    /// Secret for signing access tokens (at least 32 bytes). When absent, one is generated on
    /// first start and kept in the database, so every instance on that database shares it.
    #[arg(long, env = "GRIDWING_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "GRIDWING_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: u64,
    /// Lifetime of a login session (its refresh tokens), in seconds.
    #[arg(long, env = "GRIDWING_REFRESH_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_ttl_secs: u64,
    /// How long an instance trusts its cached view that a session is live, in seconds: the bound
    /// on how long a logout made on another instance takes to be seen here.
    #[arg(long, env = "GRIDWING_SESSION_CHECK_SECS", default_value_t = 5)]
    pub session_check_secs: u64,
    /// How many intake writers an instance runs: each commits the reports waiting for it as one
    /// transaction, so a burst of sensor alerts costs a few commits, not one per alert.
    #[arg(long, env = "GRIDWING_INTAKE_WRITERS", default_value_t = 2)]
    pub intake_writers: usize,
    /// Seconds an offline document may go unused by every sync connection before it is dropped
    /// from memory (it stays in the database and loads again when asked for).
    #[arg(long, env = "GRIDWING_SYNC_IDLE_SECS", default_value_t = 60)]
    pub sync_idle_secs: u64,
    /// How many writers commit the edits phones merge into tasks and reports: each commits the
    /// merges waiting for it as one transaction, so fifty phones syncing at once pay a few commits,
    /// not one per edit. 0: each merge commits alone.
    #[arg(long, env = "GRIDWING_SYNC_WRITERS", default_value_t = 2)]
    pub sync_writers: usize,
    /// Failed logins to one account from one address before every further attempt from that
    /// address must wait (the wait doubles with each failure). The owner logging in from
    /// another address is not held up: no limit locks an account as such.
    #[arg(
        long,
        alias = "login-limit-per-account",
        env = "GRIDWING_LOGIN_FAILURES_PER_ACCOUNT",
        default_value_t = 5
    )]
    pub login_failures_per_account: u32,
    /// Failed logins (to any accounts) and registrations from one address (an IPv6 client: its
    /// /64) before every further attempt from it must wait: one address cannot try a password
    /// on a whole street's accounts.
    #[arg(
        long,
        alias = "login-limit-per-addr",
        env = "GRIDWING_LOGIN_FAILURES_PER_ADDR",
        default_value_t = 50
    )]
    pub login_failures_per_addr: u32,
    /// The first wait once the free failures are spent, in seconds; it doubles with every
    /// further failure.
    #[arg(long, env = "GRIDWING_LOGIN_DELAY_SECS", default_value_t = 1)]
    pub login_delay_secs: u64,
    /// The longest wait between attempts, in seconds.
    #[arg(long, env = "GRIDWING_LOGIN_MAX_DELAY_SECS", default_value_t = 900)]
    pub login_max_delay_secs: u64,
    /// Failures are forgotten this many seconds after the last wait they caused ends.
    #[arg(long, env = "GRIDWING_LOGIN_WINDOW_SECS", default_value_t = 900)]
    pub login_window_secs: u64,
    /// Proxies (addresses or networks, comma-separated, e.g. `10.0.0.0/8,127.0.0.1`) whose
    /// X-Forwarded-For the server believes: behind them, the client's address is the last one
    /// they appended that is not a proxy of theirs. From anyone else the header is ignored.
    #[arg(long, env = "GRIDWING_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyNet>,
    /// Replaced by --trusted-proxies (it believed X-Forwarded-For from anyone); refused.
    #[arg(long, env = "GRIDWING_TRUST_FORWARDED_FOR", hide = true)]
    pub trust_forwarded_for: bool,
    /// Websockets (`/api/v1/sync` and `/api/v1/live` together) one user may hold open on an
    /// instance; 0: no cap.
    #[arg(long, env = "GRIDWING_WS_MAX_PER_USER", default_value_t = 16)]
    pub ws_max_per_user: usize,
    /// Websockets one client address (an IPv6 client: its /64) may hold open on an instance;
    /// 0: no cap.
    #[arg(long, env = "GRIDWING_WS_MAX_PER_ADDR", default_value_t = 512)]
    pub ws_max_per_addr: usize,
    /// Websockets an instance holds open at most; keep it under the process's open-file limit
    /// (`ulimit -n`); 0: no cap.
    #[arg(long, env = "GRIDWING_WS_MAX_TOTAL", default_value_t = 10_000)]
    pub ws_max_total: usize,
    /// Largest JSON request body, in bytes.
    #[arg(long, env = "GRIDWING_MAX_JSON_BYTES", default_value_t = 64 * 1024)]
    pub max_json_bytes: usize,
    /// Origins allowed to call the API from a browser (comma-separated); none by default.
    #[arg(long, env = "GRIDWING_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// HTTP worker threads; defaults to the number of cores.
    #[arg(long, env = "GRIDWING_WORKERS")]
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "GRIDWING_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// Create the demo accounts and the demo street on start (idempotent) and print them.
    #[arg(long, env = "GRIDWING_DEMO")]
    pub demo: bool,
    /// With --demo: also load the demo street (6 communities, 118 grids, 388 micro-grids,
    /// 3,104 buildings) when the database has no areas yet.
    #[arg(long, env = "GRIDWING_DEMO_STREET", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo_street: bool,
    /// With --demo and the demo street: simulate this many events over last month (once: not
    /// when the month has events), so maps, rankings and monthly reviews have a month to show.
    #[arg(long, env = "GRIDWING_DEMO_MONTH", default_value_t = 0)]
    pub demo_month: u64,
    /// Largest area file (GeoJSON) an import accepts, in bytes.
    #[arg(long, env = "GRIDWING_MAX_IMPORT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_import_bytes: usize,
    /// SMTP server for mail to supervisors and coordinators, e.g. `smtp://127.0.0.1:2525` or
    /// `smtps://user:pass@smtp.example.cn`. Without it mail is queued and kept, not sent.
    #[arg(long, env = "GRIDWING_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From of every mail.
    #[arg(
        long,
        env = "GRIDWING_MAIL_FROM",
        default_value = "gridwing <noreply@gridwing.local>"
    )]
    pub mail_from: String,
    /// Directory where photos are stored, under their content hash.
    #[arg(long, env = "GRIDWING_PHOTO_DIR", default_value = "data/photos")]
    pub photo_dir: std::path::PathBuf,
    /// Largest photo upload, in bytes.
    #[arg(long, env = "GRIDWING_MAX_PHOTO_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_photo_bytes: usize,
    /// Largest photo, in pixels (width × height).
    #[arg(long, env = "GRIDWING_MAX_PHOTO_PIXELS", default_value_t = 40_000_000)]
    pub max_photo_pixels: u64,
    /// How long the live feed keeps what happened, in hours: a client may catch up from a
    /// cursor this old (`GET /api/v1/feed?after=`, the websocket's `after`); an older cursor
    /// gets 410 `cursor-expired`. Older outbox rows are deleted.
    #[arg(long, env = "GRIDWING_FEED_WINDOW_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..=87_600))]
    pub feed_window_hours: u64,
    /// How often an instance deletes outbox rows past the feed's window, in seconds.
    #[arg(long, env = "GRIDWING_OUTBOX_PRUNE_SECS", default_value_t = 3600)]
    pub outbox_prune_secs: u64,
    /// How often the deadline sweeper looks for late tasks, in seconds.
    #[arg(long, env = "GRIDWING_SWEEP_SECS", default_value_t = 5)]
    pub sweep_secs: u64,
    /// How often an instance checks whether another instance changed the area tree, in seconds.
    #[arg(long, env = "GRIDWING_AREAS_REFRESH_SECS", default_value_t = 10)]
    pub areas_refresh_secs: u64,
    /// Generate every grid's, community's and street's monthly review (月度研判报告) once a
    /// month has ended (Asia/Shanghai): at start, then at each month's turn. Once per street
    /// and month whatever the number of instances; `false` leaves it to other instances (or to
    /// reviews generated on demand).
    #[arg(long, env = "GRIDWING_REVIEW_SCHEDULER", default_value_t = true, action = clap::ArgAction::Set)]
    pub review_scheduler: bool,
}

impl ServeArgs {
    fn login_rule(&self, free: u32) -> Rule {
        Rule {
            free,
            delay: Duration::from_secs(self.login_delay_secs),
            max_delay: Duration::from_secs(self.login_max_delay_secs),
            memory: Duration::from_secs(self.login_window_secs),
        }
    }

    /// How one account is throttled from one address.
    pub fn login_rule_per_account(&self) -> Rule {
        self.login_rule(self.login_failures_per_account)
    }

    /// How one address is throttled.
    pub fn login_rule_per_addr(&self) -> Rule {
        self.login_rule(self.login_failures_per_addr)
    }

    /// The client addresses throttles and caps count against.
    pub fn proxies(&self) -> TrustedProxies {
        TrustedProxies(self.trusted_proxies.clone())
    }

    /// The websocket caps.
    pub fn ws_caps(&self) -> Caps {
        Caps {
            per_user: self.ws_max_per_user,
            per_addr: self.ws_max_per_addr,
            total: self.ws_max_total,
        }
    }
}

/// Parses `gridwing serve` arguments alone (tests and tools start servers this way, through the
/// same flags and environment variables a person uses).
pub fn serve_args_from<I, T>(args: I) -> Result<ServeArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(
        std::iter::once(std::ffi::OsString::from("gridwing"))
            .chain(std::iter::once("serve".into()))
            .chain(args.into_iter().map(Into::into)),
    )?;
    match cli.command {
        Command::Serve(args) => Ok(*args),
        _ => Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults_work_without_any_flag() -> Result<(), clap::Error> {
        let args = serve_args_from(["--addr", "127.0.0.1:0"])?;
        assert_eq!(args.access_ttl_secs, 900);
        assert!(args.cors_origins.is_empty());
        assert!(args.trusted_proxies.is_empty());
        Ok(())
    }
}
