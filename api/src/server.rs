//! Building and running the HTTP server. The server takes a bound listener, so tests and the
//! binary start it the same way (tests bind port 0), and it stops gracefully: on SIGTERM or
//! Ctrl-C it stops accepting and lets in-flight requests finish, then asks the background
//! workers (see [`crate::workers`]) to drain and waits for them, within a bound, then exits.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use actix_cors::Cors;
use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol};
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service, map_config,
};
use actix_web::dev::{AppConfig, Server, ServerHandle};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, web};
use anyhow::Context;
use tokio::net::TcpStream;
use utoipa_actix_web::AppExt;

use crate::config::ServeArgs;
use crate::error::ApiError;
use crate::extract::JsonLimit;
use crate::middleware::{self, RouteIndex};
use crate::state::AppState;
use crate::wire::ProblemIo;
use crate::workers::Supervisor;
use crate::{demo, routes};

/// A server accepting connections.
pub struct RunningServer {
    /// Where it listens (the real port when bound to port 0).
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub server: Server,
    pub state: web::Data<AppState>,
    /// The background workers; they run as long as this is kept.
    pub workers: Supervisor,
}

fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |c, o| c.allowed_origin(o))
        .allow_any_method()
        .allow_any_header()
        .expose_headers(["x-request-id"])
        .max_age(3600)
}

/// Connects, migrates, seeds the demo data when asked, and starts serving on `listener`.
pub async fn start(settings: ServeArgs, listener: TcpListener) -> anyhow::Result<RunningServer> {
    let addr = listener
        .local_addr()
        .context("reading the listener's address")?;
    let state = web::Data::new(AppState::init(settings.clone()).await?);
    if settings.demo {
        demo::seed(&state.db).await?;
        if settings.demo_street {
            demo::seed_street(&state.db, &state.places).await?;
            demo::seed_month(&state.db, settings.demo_month).await?;
        }
    }
    let mut workers = Supervisor::new(state.workers.clone());
    spawn_area_refresh(state.clone(), &mut workers);
    crate::events::sweeper::spawn(state.clone(), &mut workers);
    crate::live::retention::spawn(state.clone(), &mut workers);
    crate::health::worker::spawn(state.clone(), &mut workers);
    crate::reviews::worker::spawn(state.clone(), &mut workers);
    crate::live::bus::spawn(state.clone(), &mut workers)
        .await
        .context("reading the live stream's last position")?;
    crate::sync::watch::spawn(state.clone(), &mut workers);
    crate::mail::spawn_sender(state.db.clone(), &state.settings, &mut workers);
    let doc = routes::openapi();
    let index = web::Data::new(RouteIndex::from_openapi(&doc));
    let doc_json = web::Data::new(routes::health::OpenApiJson(
        serde_json::to_string(&routes::openapi_json()).context("serialising OpenAPI")?,
    ));
    let limit = JsonLimit(settings.max_json_bytes);
    let origins = settings.cors_origins.clone();
    let app_state = state.clone();
    let app = move || {
        let (app, _) = App::new()
            .app_data(app_state.clone())
            .app_data(index.clone())
            .app_data(doc_json.clone())
            .app_data(limit)
            .app_data(
                web::PathConfig::default()
                    .error_handler(|_, _| ApiError::NotFound("resource").into()),
            )
            .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
            .wrap(from_fn(middleware::observe))
            .into_utoipa_app()
            .configure(routes::configure)
            .split_for_parts();
        // The console is beside the API, not in its document (see `console`).
        app.configure(crate::console::configure)
            .default_service(web::to(middleware::fallback))
    };
    let mut builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs);
    if let Some(n) = settings.workers {
        builder = builder.workers(n);
    }
    // What actix-web's HttpServer does for a listener, but with each connection wrapped so that
    // the HTTP parser's own refusals get problem bodies (see `wire`).
    let stopping = builder.graceful_shutdown_signal();
    let server = builder
        .listen("gridwing", listener, move || {
            let stopping = stopping.clone();
            // Websocket upgrades leave the dispatcher for `upgraded`, which runs them through
            // an app of their own (one per worker, as for every other request).
            let upgrades = app.clone();
            let upgrade = fn_factory(move || {
                let factory = map_config(upgrades().into_factory(), |_| AppConfig::default());
                async move {
                    let app = Rc::new(factory.new_service(()).await?);
                    Ok::<_, ()>(fn_service(move |(req, framed)| {
                        crate::upgraded::serve(app.clone(), req, framed)
                    }))
                }
            });
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .client_request_timeout(Duration::from_secs(30))
                // actix-web's default: a second for a client to read the end of an answer.
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .upgrade(upgrade)
                .finish(map_config(
                    app().into_factory().map_err(|e| e.error_response()),
                    |_| AppConfig::default(),
                ));
            fn_service(|io: TcpStream| async move {
                // As actix-web does: responses are small and should not wait for more.
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, DispatchError>((ProblemIo::new(io), Protocol::Http1, peer))
            })
            .and_then(http)
        })
        .context("listening")?
        .run();
    tracing::info!(%addr, database = %crate::db::redact(&settings.db.database_url), redis = settings.redis_url.is_some(), "gridwing serving");
    Ok(RunningServer {
        addr,
        handle: server.handle(),
        server,
        state,
        workers,
    })
}

/// Keeps this instance's area index in step with imports made through other instances.
fn spawn_area_refresh(state: web::Data<AppState>, workers: &mut Supervisor) {
    workers.spawn("areas", move |mut stop| {
        let state = state.clone();
        Box::pin(async move {
            let every = Duration::from_secs(state.settings.areas_refresh_secs.max(1));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.requested() => return,
                }
                match state.places.refresh_if_stale(&state.db).await {
                    Ok(true) => tracing::info!("area tree changed elsewhere; index rebuilt"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "checking the area tree failed"),
                }
            }
        })
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Serves until SIGTERM or Ctrl-C, then stops gracefully: HTTP first (in-flight requests
/// finish), then the workers drain, within `--shutdown-timeout-secs` each.
pub async fn run_until_signal(running: RunningServer) -> anyhow::Result<()> {
    let RunningServer {
        handle,
        server,
        state,
        mut workers,
        ..
    } = running;
    let bound = Duration::from_secs(state.settings.shutdown_timeout_secs);
    let mut server = tokio::spawn(server);
    let outcome = tokio::select! {
        res = &mut server => res.context("server task").and_then(|r| r.context("server")),
        () = shutdown_signal() => {
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            handle.stop(true).await;
            let res = server.await.context("server task").and_then(|r| r.context("server"));
            tracing::info!("HTTP stopped; draining the background workers");
            res
        }
        (name, why) = workers.lost() => {
            // Only a worker's keeper ending gets here (a worker itself is restarted): nothing
            // watches that worker any more, so the process goes down rather than run without it.
            tracing::error!(worker = name, reason = %why, "a worker's supervision ended; stopping");
            handle.stop(true).await;
            let _ = server.await;
            Err(anyhow::anyhow!("supervision of worker {name} ended: {why}"))
        }
    };
    let aborted = workers.shutdown(bound).await;
    if aborted.is_empty() {
        tracing::info!("workers drained");
    }
    state
        .db
        .clone()
        .close()
        .await
        .context("closing the database")?;
    tracing::info!("stopped");
    outcome
}
