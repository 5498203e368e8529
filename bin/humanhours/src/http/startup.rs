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

/// Longest path the access log prints whole; a longer one is cut.
const LOGGED_PATH_CHARS: usize = 200;

/// One log line per request: method, path, status, latency, org. Never headers or bodies, never
/// a share link's token, and nothing a client chose at unbounded length (an unknown method is
/// `OTHER`, a long path is cut).
async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = clock::instant();
    let method = app::metrics::method_label(req.method().as_str());
    let resp = next.call(req).await?;
    let latency = started.elapsed();
    let status = resp.status().as_u16();
    let request = resp.request();
    let route = request.match_pattern();
    if let Some(state) = request.app_data::<web::Data<App>>() {
        state.metrics.observe(
            route.as_deref().unwrap_or("unmatched"),
            method,
            status,
            latency,
        );
    }
    // The line's parts (a decoded, masked path; the org) are built only when it is written.
    if tracing::enabled!(tracing::Level::INFO) {
        let path = loggable_path(
            request.path(),
            route.as_deref(),
            request.match_info().get("token"),
        );
        let org = request
            .extensions()
            .get::<Arc<Caller>>()
            .map(|c| c.org.id.clone());
        tracing::info!(
            method,
            %path,
            status,
            latency_us = latency.as_micros() as u64,
            org = org.as_deref().unwrap_or("-"),
            "request"
        );
    }
    Ok(resp)
}

/// The path as logged. A share link's token is a secret: on a route with a `{token}` the
/// pattern is logged with the token's first characters only, whatever the path's spelling
/// (`/%73hare/…` reaches the same route); any other path is logged percent-decoded, with a
/// `/share/` token in it masked the same way, and cut to [`LOGGED_PATH_CHARS`].
fn loggable_path(raw: &str, pattern: Option<&str>, token: Option<&str>) -> String {
    let masked = |token: &str| -> String {
        let shown: String = token.chars().take(app::tokens::SHARE_PREFIX_LEN).collect();
        format!("{shown}…")
    };
    if let (Some(pattern), Some(token)) = (pattern, token) {
        return pattern.replace("{token}", &masked(token));
    }
    let decoded = percent_decode(raw);
    let path = match decoded.split_once("/share/") {
        Some((head, rest)) => {
            let (token, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!("{head}/share/{}{tail}", masked(token))
        }
        None => decoded,
    };
    app::metrics::cut(&path, LOGGED_PATH_CHARS).into_owned()
}

/// `%XX` escapes decoded (invalid UTF-8 replaced), so an escaped spelling logs as it routes.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

/// An instance's work besides HTTP: the job runner, and (where jobs run) the webhook worker.
pub struct Background {
    jobs: jobs::Running,
    webhooks: Option<app::webhooks::worker::Running>,
}

impl Background {
    /// Lets running jobs and webhook attempts in flight finish (each within its grace period).
    pub async fn stop(self) {
        if let Some(w) = self.webhooks {
            w.stop(std::time::Duration::from_secs(20)).await;
        }
        self.jobs.stop().await;
    }
}

/// Starts the webhook delivery worker on the current runtime (instances that run jobs).
pub fn start_webhooks(
    store: Arc<store::Store>,
    config: &app::webhooks::WebhookConfig,
    stats: Arc<app::webhooks::worker::WebhookStats>,
) -> std::io::Result<app::webhooks::worker::Running> {
    let transport = crate::outbound::HttpTransport::new(
        config.allow_nets.clone(),
        crate::outbound::system_lookup(),
    )
    .map_err(std::io::Error::other)?;
    Ok(
        app::webhooks::worker::Dispatcher::new(store, Arc::new(transport), config.clone(), stats)
            .start(),
    )
}

/// Starts serving on `listener` and the instance's background work (per-instance tasks,
/// and with `HUMANHOURS_JOBS=on` the queued and scheduled jobs and webhook delivery). Await
/// the server, then [`Background::stop`] to let running work finish.
pub fn start(
    listener: TcpListener,
    state: web::Data<App>,
    workers: Option<usize>,
) -> std::io::Result<(Server, Background)> {
    // Only instances that run jobs send email: they say once whether they can.
    let mailer = match state.config.jobs.mode {
        app::background::JobsMode::Off => None,
        _ => crate::digest::mail::from_settings(state.config.mail.as_ref())
            .map_err(std::io::Error::other)?,
    };
    let fetcher: Option<Arc<dyn app::feeds::Fetcher>> = Some(Arc::new(
        crate::outbound::FeedClient::new(state.config.jobs.feeds.timeout)
            .map_err(std::io::Error::other)?,
    ));
    let deps = app::background::JobDeps {
        mailer,
        fetcher,
        ..Default::default()
    };
    let jobs = app::background::start_for_server(state.clone().into_inner(), deps);
    let webhooks = match state.config.jobs.mode {
        app::background::JobsMode::Off => None,
        _ => Some(start_webhooks(
            state.store.clone(),
            &state.config.webhooks,
            state.metrics.webhooks.clone(),
        )?),
    };
    let jobs = Background { jobs, webhooks };
    // Built once, outside the per-worker closure: every worker answers MCP with one service.
    let mcp = web::Data::new(
        crate::http::mcp::Mcp::new(state.clone().into_inner()).map_err(std::io::Error::other)?,
    );
    let mut server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .app_data(mcp.clone())
            .wrap(from_fn(access_log))
            .configure(crate::http::routes::configure)
    })
    .listen(listener)?;
    if let Some(n) = workers {
        server = server.workers(n.max(1));
    }
    Ok((server.run(), jobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_token_is_masked_however_the_path_is_spelled() {
        let token = "abcdefghijklmnopqrstuvwxyz012345";
        // Routed: the pattern, with the token's first characters.
        let logged = loggable_path(
            &format!("/%73hare/{token}"),
            Some("/share/{token}"),
            Some(token),
        );
        assert!(!logged.contains(token), "{logged}");
        assert!(logged.starts_with("/share/"), "{logged}");
        // Not routed (or no pattern): decoded first, then masked.
        for raw in [
            format!("/share/{token}/x"),
            format!("/%73hare/{token}"),
            format!("/%73%68%61%72%65/{token}/export.csv"),
        ] {
            let logged = loggable_path(&raw, None, None);
            assert!(!logged.contains(token), "{raw} logged as {logged}");
            assert!(!logged.contains(&token[10..]), "{raw} logged as {logged}");
        }
    }

    #[test]
    fn long_paths_are_cut_and_plain_ones_kept() {
        assert_eq!(loggable_path("/api/v1/track", None, None), "/api/v1/track");
        let long = format!("/{}", "a".repeat(5_000));
        let logged = loggable_path(&long, None, None);
        assert_eq!(logged.chars().count(), LOGGED_PATH_CHARS + 1);
        assert!(logged.ends_with('…'));
        assert_eq!(percent_decode("/a%20b%zz%4"), "/a b%zz%4");
    }
}
