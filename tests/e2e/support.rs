//! Starting a real gridwing server for one test: its own database (a fresh SQLite file, or a
//! fresh PostgreSQL database when DATABASE_URL names a server), its own Redis key prefix when
//! REDIS_URL is set, a random port, and the demo accounts.

use std::net::TcpListener;
use std::sync::Once;

use actix_web::dev::ServerHandle;
use actix_web::web;
use gridwing_api::config::serve_args_from;
use gridwing_api::demo::DEMO_PASSWORD;
use gridwing_api::server;
use gridwing_api::state::AppState;
use reqwest::{Method, RequestBuilder, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub const ADMIN: &str = "13800000001";
pub const DISPATCHER: &str = "13800000002";
pub const GRID_WORKER: &str = "13800000003";
pub const TEAM_MEMBER: &str = "13800000004";
pub const COORDINATOR: &str = "13800000005";
pub const CITIZEN: &str = "13800000006";
/// A grid worker of QSH-G002, beside GRID_WORKER of QSH-G001.
pub const OTHER_GRID_WORKER: &str = "13800000007";

static LOGS: Once = Once::new();

fn init_logs() {
    // Quiet unless asked: TEST_LOG=1 shows the server's logs.
    LOGS.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            gridwing_api::telemetry::init(gridwing_api::config::LogFormat::Text);
        }
    });
}

/// A database of the test's own.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        url: String,
    },
    /// Another instance's database, shared.
    Shared {
        url: String,
    },
}

impl TestDb {
    pub async fn new() -> TestResult<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => {
                let name = format!("gwtest_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&base).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                admin.close().await?;
                let (server, _) = base
                    .rsplit_once('/')
                    .ok_or("DATABASE_URL has no database name")?;
                Ok(TestDb::Postgres {
                    url: format!("{server}/{name}"),
                })
            }
            _ => {
                let dir = tempfile::tempdir()?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("gw.sqlite").display()
                );
                Ok(TestDb::Sqlite { _dir: dir, url })
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url } | TestDb::Shared { url } => url,
        }
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub handle: ServerHandle,
    pub state: web::Data<AppState>,
    pub db: TestDb,
    pub redis_prefix: String,
    /// Where this server keeps photos; removed with the app.
    pub files: tempfile::TempDir,
    /// The server's background workers, which run as long as the app is kept.
    pub _workers: gridwing_api::workers::Supervisor,
}

impl TestApp {
    /// A server with default settings.
    pub async fn spawn() -> TestResult<Self> {
        Self::spawn_with(&[]).await
    }

    /// A server with extra `gridwing serve` flags.
    pub async fn spawn_with(extra: &[&str]) -> TestResult<Self> {
        let db = TestDb::new().await?;
        let prefix = format!("gwtest-{}", uuid::Uuid::new_v4().simple());
        Self::spawn_on(db, prefix, extra).await
    }

    /// A second instance on the same database and Redis prefix, as behind a load balancer.
    pub async fn second_instance(&self, extra: &[&str]) -> TestResult<Self> {
        let db = TestDb::Shared {
            url: self.db.url().to_owned(),
        };
        Self::spawn_on(db, self.redis_prefix.clone(), extra).await
    }

    async fn spawn_on(db: TestDb, redis_prefix: String, extra: &[&str]) -> TestResult<Self> {
        init_logs();
        let files = tempfile::tempdir()?;
        let mut args: Vec<String> = vec![
            "--photo-dir".into(),
            files.path().display().to_string(),
            "--database-url".into(),
            db.url().to_owned(),
            "--redis-prefix".into(),
            redis_prefix.clone(),
            "--workers".into(),
            "2".into(),
            "--db-max-connections".into(),
            "5".into(),
            "--demo".into(),
        ];
        // The demo street costs a second per server; tests that need it ask for it.
        if !extra.contains(&"--demo-street") {
            args.extend(["--demo-street".into(), "false".into()]);
        }
        // The monthly review scheduler generates a whole street's month at start; only the
        // tests of reviews ask for it.
        if !extra.contains(&"--review-scheduler") {
            args.extend(["--review-scheduler".into(), "false".into()]);
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let settings = serve_args_from(args)?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let running = server::start(settings, listener).await?;
        let handle = running.handle.clone();
        let state = running.state.clone();
        let base = format!("http://{}", running.addr);
        tokio::spawn(running.server);
        let workers = running.workers;
        Ok(TestApp {
            base,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            handle,
            state,
            db,
            redis_prefix,
            files,
            _workers: workers,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and returns status and JSON body (Null when the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> TestResult<(StatusCode, Value)> {
        let mut rb = self.request(method, path, token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await?;
        let status = res.status();
        let bytes = res.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResult<(StatusCode, Value)> {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> TestResult<(StatusCode, Value)> {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Logs in and returns the whole token pair.
    pub async fn login_pair(&self, phone: &str, password: &str) -> TestResult<Value> {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"phone": phone, "password": password}),
            )
            .await?;
        if status != StatusCode::OK {
            return Err(format!("login {phone}: {status} {body}").into());
        }
        Ok(body)
    }

    /// Logs a demo account in and returns its access token.
    pub async fn token(&self, phone: &str) -> TestResult<String> {
        let pair = self.login_pair(phone, DEMO_PASSWORD).await?;
        str_field(&pair, "access_token")
    }

    /// Creates an account through the admin API and returns its id.
    pub async fn create_user(
        &self,
        admin: &str,
        phone: &str,
        roles: &[&str],
        password: &str,
    ) -> TestResult<String> {
        let (status, body) = self
            .post(
                "/api/v1/users",
                Some(admin),
                json!({"phone": phone, "name": "测试用户", "password": password, "roles": roles}),
            )
            .await?;
        if status != StatusCode::CREATED {
            return Err(format!("create {phone}: {status} {body}").into());
        }
        str_field(&body, "id")
    }
}

impl TestApp {
    /// `n` signed-in citizens at once (see `demo::crowd`): ids and access tokens. Phones start
    /// with `prefix` (3 digits); emails are `<phone>@example.cn`.
    pub async fn crowd(&self, prefix: &str, n: usize) -> TestResult<Vec<(uuid::Uuid, String)>> {
        Ok(gridwing_api::demo::crowd(&self.state.db, &self.state.jwt, prefix, n).await?)
    }
}

/// The caller's user id.
pub async fn my_id(app: &TestApp, token: &str) -> TestResult<String> {
    let (status, me) = app.get("/api/v1/me", Some(token)).await?;
    assert_eq!(status, StatusCode::OK, "{me}");
    str_field(&me, "id")
}

/// The caller's points balance.
pub async fn balance(app: &TestApp, token: &str) -> TestResult<i64> {
    let (status, body) = app.get("/api/v1/points/me/balance", Some(token)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["balance"]
        .as_i64()
        .ok_or_else(|| format!("no balance in {body}").into())
}

/// The caller's points history rows from one source kind, newest first.
pub async fn earnings(app: &TestApp, token: &str, source_kind: &str) -> TestResult<Vec<Value>> {
    let (status, points) = app.get("/api/v1/points/me", Some(token)).await?;
    assert_eq!(status, StatusCode::OK, "{points}");
    let rows = points["history"]["items"]
        .as_array()
        .ok_or_else(|| format!("no history in {points}"))?;
    Ok(rows
        .iter()
        .filter(|r| r["source_kind"] == source_kind)
        .cloned()
        .collect())
}

/// The width, height and 8-bit grey pixels of a PNG, which must be 8-bit greyscale.
pub fn decode_png(bytes: &[u8]) -> TestResult<(usize, usize, Vec<u8>)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info()?;
    assert_eq!(
        reader.output_color_type(),
        (png::ColorType::Grayscale, png::BitDepth::Eight)
    );
    let mut pixels = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
    let frame = reader.next_frame(&mut pixels)?;
    Ok((frame.width as usize, frame.height as usize, pixels))
}

/// What the one QR code in a greyscale image says.
pub fn read_qr(w: usize, h: usize, pixels: &[u8]) -> TestResult<String> {
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let (_, content) = grids[0]
        .decode()
        .map_err(|e| format!("decoding the QR code: {e:?}"))?;
    Ok(content)
}

/// A string field of a JSON object, or an error naming it.
pub fn str_field(v: &Value, field: &str) -> TestResult<String> {
    v[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no string field {field} in {v}").into())
}

/// Asserts a problem+json answer with this status and problem type.
pub async fn assert_problem(res: reqwest::Response, status: u16, kind: &str) -> TestResult<Value> {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await?;
    assert_eq!(body["type"], format!("/problems/{kind}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    Ok(body)
}

/// Sends a request and asserts a problem+json answer of this status and type.
pub async fn problem(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    status: u16,
    kind: &str,
) -> TestResult<Value> {
    let mut rb = app.request(method, path, Some(token));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    assert_problem(rb.send().await?, status, kind).await
}

/// The `field` of each error of a problem.
pub fn error_fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

/// Starts the real `gridwing` binary on `url` and returns it with its base URL.
pub async fn start_binary(url: &str) -> TestResult<(tokio::process::Child, String)> {
    use tokio::io::AsyncBufReadExt;
    let photos = std::env::temp_dir().join(format!("gw-photos-{}", uuid::Uuid::new_v4().simple()));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridwing"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            url,
            "--workers",
            "2",
            "--demo",
        ])
        .args([
            "--login-limit-per-addr",
            "10000",
            "--photo-dir",
            &photos.display().to_string(),
        ])
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().ok_or("stdout")?).lines();
    let base = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("gridwing listening on ") {
                return Ok::<_, std::io::Error>(Some(url.to_owned()));
            }
        }
        Ok(None)
    })
    .await??
    .ok_or("the server never said where it listens")?;
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, base))
}

/// A demo account's access token from a server started with [`start_binary`].
pub async fn login_at(client: &reqwest::Client, base: &str, phone: &str) -> TestResult<String> {
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"phone": phone, "password": DEMO_PASSWORD}))
        .send()
        .await?;
    str_field(&res.json().await?, "access_token")
}

/// A point inside micro-grid QSH-G001-01 of the demo street (next to building QSH-B0001).
pub async fn point_in_g001(app: &TestApp, token: &str) -> TestResult<(f64, f64)> {
    let (_, b) = app.get("/api/v1/buildings/QSH-B0001", Some(token)).await?;
    Ok((
        b["lat"].as_f64().ok_or("lat")?,
        b["lng"].as_f64().ok_or("lng")? + 0.000_01,
    ))
}

/// Moves the sign (and, when asked, the arrival) deadline of an event's task `secs_ago` seconds
/// into the past, as if that much time had gone by since it was due.
pub async fn age_task(
    app: &TestApp,
    event: &str,
    sign: bool,
    arrive: bool,
    secs_ago: i64,
) -> TestResult {
    use gridwing_api::entities::tasks;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let past = chrono::Utc::now() - chrono::Duration::seconds(secs_ago);
    let mut q = tasks::Entity::update_many()
        .filter(tasks::Column::EventId.eq(event.parse::<uuid::Uuid>()?));
    if sign {
        q = q.col_expr(tasks::Column::SignDue, Expr::value(past));
    }
    if arrive {
        q = q.col_expr(tasks::Column::ArriveDue, Expr::value(past));
    }
    q.exec(&app.state.db).await?;
    Ok(())
}

/// Runs the gridwing binary with `args` on the test's database (without Redis); its output,
/// after checking it succeeded.
pub async fn gridwing_command(app: &TestApp, args: &[&str]) -> TestResult<String> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridwing"))
        .args(args)
        .args(["--database-url", app.db.url()])
        .env_remove("REDIS_URL")
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text)
}
