//! What every request handler can reach: the database pool, Redis, keys and limiters.

use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::RateLimiter;
use crate::auth::sessions::SessionCache;
use crate::config::ServeArgs;
use crate::places::index::SharedIndex;
use crate::places::qr_keys::QrKeys;
use crate::{db, secrets};

pub struct AppState {
    pub db: DatabaseConnection,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub jwt: JwtKeys,
    pub sessions: SessionCache,
    /// API keys as recently read.
    pub api_keys: crate::auth::api_keys::KeyCache,
    pub limiter: RateLimiter,
    /// Whose X-Forwarded-For names the client's address.
    pub proxies: crate::client_addr::TrustedProxies,
    /// Open websockets, against their caps.
    pub websockets: crate::ws_caps::WsCaps,
    /// The area tree in memory, for locating points.
    pub places: SharedIndex,
    /// Keys signing building QR codes.
    pub qr: QrKeys,
    /// Categories and deadline policies, for the hot path.
    pub catalogue: crate::events::catalogue::Cached,
    /// Live delivery of outbox rows to websocket clients.
    pub live: crate::live::Live,
    /// Signups queued per shift and written in batches.
    pub signups: crate::community::activities::SignupDesk,
    /// Offline documents in memory.
    pub sync: crate::sync::Docs,
    /// Reports queued and written in batches.
    pub intake: crate::events::intake_desk::IntakeDesk,
    /// Where the background workers stand, for `/readyz`.
    pub workers: crate::workers::Health,
    /// The way to this instance's grid health worker.
    pub health: crate::health::HealthDesk,
    /// How this instance's review scheduler is getting on.
    pub reviews: crate::reviews::worker::SchedulerPasses,
    /// The CJK font PDF files embed, loaded on first use.
    pub pdf_font: std::sync::Arc<documents::LazyFont>,
    pub settings: ServeArgs,
}

impl AppState {
    /// The server's handles that the sync engine works with.
    pub fn sync_engine(&self) -> crate::sync::Engine<'_> {
        crate::sync::Engine {
            db: &self.db,
            docs: &self.sync,
            places: &self.places,
            catalogue: &self.catalogue,
            live: &self.live,
        }
    }

    /// The server's handles that intake works with, over the area index the caller read (one
    /// read per request, so a report is routed on one tree even while an import replaces it).
    pub fn intake<'a>(
        &'a self,
        index: &'a places::locate::LocateIndex,
    ) -> crate::events::intake_desk::Intake<'a> {
        crate::events::intake_desk::Intake {
            db: &self.db,
            index,
            catalogue: &self.catalogue,
            desk: &self.intake,
            live: &self.live,
        }
    }

    /// Connects to everything the server needs and migrates the database.
    pub async fn init(settings: ServeArgs) -> anyhow::Result<Self> {
        crate::mail::check_settings(&settings)?;
        if settings.trust_forwarded_for {
            // It believed the header from anyone, so anyone could pick the address their
            // attempts are counted against.
            anyhow::bail!(
                "GRIDWING_TRUST_FORWARDED_FOR is gone: name your proxies with --trusted-proxies"
            );
        }
        let db = db::connect(&settings.db).await?;
        db::migrate(&db).await?;
        let secret = match &settings.jwt_secret {
            Some(s) if s.len() >= 32 => s.clone(),
            Some(_) => anyhow::bail!("GRIDWING_JWT_SECRET must be at least 32 bytes"),
            None => secrets::get_or_create(&db, "jwt_hs256").await?,
        };
        let redis = match &settings.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).context("parsing REDIS_URL")?;
                let conn = redis::aio::ConnectionManager::new(client)
                    .await
                    .context("connecting to Redis")?;
                Some(conn)
            }
            None => None,
        };
        let limiter = match &redis {
            Some(conn) => RateLimiter::Redis {
                conn: conn.clone(),
                prefix: settings.redis_prefix.clone(),
            },
            None => RateLimiter::memory(),
        };
        crate::auth::password::warm_up().await?;
        let places = SharedIndex::default();
        places
            .reload(&db)
            .await
            .map_err(|e| anyhow::anyhow!("loading the area tree: {e}"))?;
        let qr = QrKeys::load(&db).await?;
        crate::events::catalogue::ensure_defaults(&db)
            .await
            .map_err(|e| anyhow::anyhow!("seeding categories and deadline policies: {e}"))?;
        let sessions =
            SessionCache::new(db.clone(), Duration::from_secs(settings.session_check_secs));
        let signups = crate::community::activities::SignupDesk::new(db.clone());
        let intake =
            crate::events::intake_desk::IntakeDesk::new(db.clone(), settings.intake_writers);
        let pdf_font = documents::LazyFont::new(settings.pdf.pdf_font.clone());
        match pdf_font.locate() {
            Ok((path, _)) => tracing::info!(font = %path.display(), "PDF files embed this font"),
            // The server runs without it; only PDF downloads answer 503 until it is installed.
            Err(e) => tracing::warn!(error = %e, "PDF files cannot be made"),
        }
        Ok(Self {
            pdf_font: std::sync::Arc::new(pdf_font),
            intake,
            places,
            qr,
            live: crate::live::Live::default(),
            sync: crate::sync::Docs::new(
                db.clone(),
                Duration::from_secs(settings.sync_idle_secs),
                settings.sync_writers,
            ),
            catalogue: Default::default(),
            signups,
            db,
            redis,
            jwt: JwtKeys::new(secret.as_bytes(), settings.access_ttl_secs),
            sessions,
            api_keys: crate::auth::api_keys::KeyCache::new(Duration::from_secs(
                settings.session_check_secs,
            )),
            limiter,
            proxies: settings.proxies(),
            websockets: crate::ws_caps::WsCaps::new(settings.ws_caps()),
            workers: crate::workers::Health::default(),
            health: crate::health::HealthDesk::default(),
            reviews: crate::reviews::worker::SchedulerPasses::default(),
            settings,
        })
    }
}
