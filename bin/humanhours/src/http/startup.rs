//! Builds and starts the HTTP server, so `main` and the tests start the same thing (the tests
//! on port 0 with a fresh database).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

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
pub fn run(
    listener: TcpListener,
    state: web::Data<App>,
    workers: Option<usize>,
) -> std::io::Result<Server> {
    spawn_housekeeping(state.clone());
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
    Ok(server.run())
}

/// Periodic work: reload prices, forget idle rate-limit buckets, prune idempotency records.
fn spawn_housekeeping(state: web::Data<App>) {
    let refresh = state.config.prices_refresh;
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(refresh.min(Duration::from_secs(60)));
        let mut last_prune = clock::instant();
        loop {
            tick.tick().await;
            let st = state.clone();
            let prune = last_prune.elapsed() >= Duration::from_secs(600);
            if prune {
                last_prune = clock::instant();
            }
            let result = web::block(move || -> anyhow::Result<()> {
                st.pricing.refresh(&st.store)?;
                st.limiter.retain_recent();
                if prune {
                    let cutoff = idempotency::prune_cutoff(clock::now());
                    let n = st.store.prune_idempotency(clock::unix_ms(cutoff))?;
                    tracing::debug!(pruned = n, "idempotency records pruned");
                    let n = st.store.prune_sessions(clock::unix_ms(clock::now()))?;
                    tracing::debug!(pruned = n, "expired dashboard sessions deleted");
                }
                Ok(())
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
                Err(e) => tracing::warn!(error = %e, "housekeeping task failed"),
            }
        }
    });
}
