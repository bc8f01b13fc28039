//! A bare actix-web server: the baseline `scripts/bench/http` measures gridwing against. It
//! answers the same shapes of request with a fixed body and does nothing else: no auth, no
//! database, no middleware.
//!
//! `/ws` is a websocket that answers pings and nothing else: the floor an idle websocket costs
//! on actix-web as it comes, for `scripts/bench/sync` (c).
//!
//! Usage: `bare ADDR WORKERS`

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, get, post, web};

const USER: &str = r#"{"id":"01a21299-68ea-7276-9f70-6a0e2d798d41","phone":"13800000001","name":"管理员","roles":["admin"],"areas":[],"disabled":false,"created_at":"2026-11-25T12:00:00Z","updated_at":"2026-11-25T12:00:00Z"}"#;

#[get("/read")]
async fn read() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(USER)
}

#[post("/login")]
async fn login(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"received":{}}}"#, body.len()))
}

#[get("/ws")]
async fn ws(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (res, mut session, mut stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.recv().await {
            match msg {
                actix_ws::Message::Ping(b) if session.pong(&b).await.is_ok() => {}
                actix_ws::Message::Ping(_) | actix_ws::Message::Close(_) => break,
                _ => {}
            }
        }
    });
    Ok(res)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18182".to_owned());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    HttpServer::new(|| App::new().service(read).service(login).service(ws))
        .workers(workers)
        .bind(addr)?
        .run()
        .await
}
