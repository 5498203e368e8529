//! Builds and starts the HTTP server, so `main` and the tests start the same thing (the tests
//! on port 0 with a fresh database).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpMessage, HttpServer};

use app::auth::Caller;
use app::clock;
use app::App;

/// One log line per request: method, path, status, latency, org. Never headers or bodies.
async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = clock::instant();
    let method = req.method().clone();
    let path = loggable_path(req.path());
    let resp = next.call(req).await?;
    let latency = started.elapsed();
    let status = resp.status().as_u16();
    let request = resp.request();
    if let Some(state) = request.app_data::<web::Data<App>>() {
        let route = request.match_pattern();
        state.metrics.observe(
            route.as_deref().unwrap_or("unmatched"),
            method.as_str(),
            status,
            latency,
        );
    }
    let org = request
        .extensions()
        .get::<Arc<Caller>>()
        .map(|c| c.org.id.clone());
    tracing::info!(
        %method,
        %path,
        status,
        latency_us = latency.as_micros() as u64,
        org = org.as_deref().unwrap_or("-"),
        "request"
    );
    Ok(resp)
}

/// The path as logged: a share link's token is a secret, so only its first characters are kept.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/share/") {
        Some(rest) => {
            let (token, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let shown: String = token.chars().take(app::tokens::SHARE_PREFIX_LEN).collect();
            format!("/share/{shown}…{tail}")
        }
        None => path.to_owned(),
    }
}

/// Starts serving on `listener`. Returns the running server (await it to run to the end).
/// The background work (`background.rs`) runs as long as the runtime does; [`start`] hands
/// it back so a caller can stop it gracefully after the server.
pub fn run(
    listener: TcpListener,
    state: web::Data<App>,
    workers: Option<usize>,
) -> std::io::Result<Server> {
    let (server, jobs) = start(listener, state, workers)?;
    // Dropping the handle would stop the runner: keep it for the runtime's life.
    actix_web::rt::spawn(async move {
        std::future::pending::<()>().await;
        drop(jobs);
    });
    Ok(server)
}

/// Starts serving on `listener` and the instance's background work (per-instance tasks,
/// and with `HUMANHOURS_JOBS=on` the queued and scheduled jobs). Await the server, then
/// [`jobs::Running::stop`] the runner to let running jobs finish.
pub fn start(
    listener: TcpListener,
    state: web::Data<App>,
    workers: Option<usize>,
) -> std::io::Result<(Server, jobs::Running)> {
    let jobs = app::background::start_for_server(state.clone().into_inner());
    let mut server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .wrap(from_fn(access_log))
            .configure(crate::http::routes::configure)
    })
    .listen(listener)?;
    if let Some(n) = workers {
        server = server.workers(n.max(1));
    }
    Ok((server.run(), jobs))
}
