//! `/mcp` (API.md §11): a Model Context Protocol server over Streamable HTTP, so an assistant
//! (Claude, Cursor, …) can read and record ROI with the org's API key.
//!
//! The protocol is the official Rust SDK's (`rmcp`): its Streamable HTTP service, a tower
//! service over `http` 1.x, answers every message. actix-web 4 speaks `http` 0.2, so
//! [`endpoint`] bridges the two by hand (a request's head and its body, read whole as on every
//! route, in; the answer's head and body out) rather than through a third-party crate: the
//! bridge is thirty lines, and everything in front of it stays ours: the key check, the
//! per-key rate limit and its headers (`http::auth::require_key`, as on REST), the body limit
//! and deadline, and our error envelope for everything refused before a tool runs.
//!
//! Stateless: no MCP session is kept. Each POST carries one JSON-RPC message and is answered
//! on its own (as JSON), so any worker of any instance behind a load balancer can answer any
//! request, and no client can hold memory between requests. The tools are in [`tools`].

mod tools;

use std::sync::Arc;

use actix_web::http::header::{HeaderValue, ACCEPT, CONTENT_TYPE, HOST, ORIGIN};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use app::App;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::http::errors::{ApiError, HttpError};
use crate::http::extract::{Auth, JsonBody};

/// The path.
pub const PATH: &str = "/mcp";

/// The MCP service, built once per server and shared by its workers.
pub struct Mcp {
    service: StreamableHttpService<tools::Tools, NeverSessionManager>,
    /// The public URL's host (lower case, without port) and origin.
    public_host: String,
    public_origin: String,
    allowed_origins: Vec<String>,
}

impl Mcp {
    /// The service over `app`'s use cases, with `app`'s public URL and listed origins.
    pub fn new(app: Arc<App>) -> anyhow::Result<Mcp> {
        let public = url::Url::parse(&app.config.public_url)
            .map_err(|e| anyhow::anyhow!("the public URL cannot be parsed: {e}"))?;
        let public_host = public
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
            .unwrap_or_default();
        let public_origin = public.origin().ascii_serialization();
        let allowed_origins = app.config.mcp_allowed_origins.clone();
        let config = StreamableHttpServerConfig::default()
            // Checked in `endpoint`, with our error envelope, before the key is.
            .disable_allowed_hosts()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_max_request_body_bytes(app.config.max_body_bytes);
        let factory_app = app.clone();
        let service = StreamableHttpService::new(
            move || Ok(tools::Tools::new(factory_app.clone())),
            Arc::new(NeverSessionManager::default()),
            config,
        );
        Ok(Mcp {
            service,
            public_host,
            public_origin,
            allowed_origins,
        })
    }

    /// `Host` must name the public URL's host or a loopback one (any port): a page on another
    /// site that rebinds its name to this server's address is refused (DNS rebinding).
    fn check_host(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let raw = req
            .headers()
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let host = host_of(&raw);
        let loopback = host == "localhost"
            || host.ends_with(".localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback || (!host.is_empty() && host == self.public_host) {
            Ok(())
        } else {
            Err(ApiError::OriginNotAllowed {
                header: "Host",
                value: clip(&raw),
            })
        }
    }

    /// `Origin`, when sent (browsers send it), must be the public URL's or a listed one.
    fn check_origin(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let mut all = req.headers().get_all(ORIGIN);
        let Some(first) = all.next() else {
            return Ok(());
        };
        let text = first.to_str().unwrap_or_default();
        let ok = all.next().is_none()
            && normalize_origin(text)
                .is_some_and(|o| o == self.public_origin || self.allowed_origins.contains(&o));
        if ok {
            Ok(())
        } else {
            Err(ApiError::OriginNotAllowed {
                header: "Origin",
                value: clip(&String::from_utf8_lossy(first.as_bytes())),
            })
        }
    }
}

/// The host of a `Host` header value, lower case, without port or IPv6 brackets.
fn host_of(raw: &str) -> String {
    let raw = raw.trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    host.to_ascii_lowercase()
}

/// At most 100 characters of a refused value, for the message.
fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

/// An origin (`scheme://host[:port]`, nothing after) in its serialized form, or `None`.
fn normalize_origin(text: &str) -> Option<String> {
    let u = url::Url::parse(text.trim()).ok()?;
    let bare = matches!(u.path(), "" | "/") && u.query().is_none() && u.fragment().is_none();
    let origin = u.origin();
    (bare && origin.is_tuple() && matches!(u.scheme(), "http" | "https"))
        .then(|| origin.ascii_serialization())
}

/// Parses `HUMANHOURS_MCP_ALLOWED_ORIGINS`: origins separated by commas or spaces.
pub fn parse_origins(list: &str) -> anyhow::Result<Vec<String>> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            normalize_origin(s).ok_or_else(|| {
                anyhow::anyhow!(
                    "HUMANHOURS_MCP_ALLOWED_ORIGINS: '{s}' is not an origin (write e.g. https://app.example.com)"
                )
            })
        })
        .collect()
}

/// Mounts `/mcp`: the Host and Origin checks, then the key (and its rate limit), then
/// [`endpoint`]. The [`Mcp`] service is app data, built once by `startup`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH)
            .wrap(from_fn(crate::http::auth::require_key))
            .wrap(from_fn(guard))
            .to(endpoint),
    );
}

/// Host and Origin first: a refused page learns nothing about keys.
async fn guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let checked = match req.app_data::<web::Data<Mcp>>() {
        Some(mcp) => mcp
            .check_host(req.request())
            .and_then(|()| mcp.check_origin(req.request())),
        None => Err(ApiError::internal(anyhow::anyhow!("MCP service missing"))),
    };
    match checked {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(e) => Ok(req
            .into_response(crate::http::errors::error_response(&e))
            .map_into_right_body()),
    }
}

/// One MCP message: our checks, then rmcp's service, its answer passed back.
async fn endpoint(
    app: web::Data<App>,
    mcp: web::Data<Mcp>,
    Auth(caller): Auth,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    // Stateless: no stream to GET and no session to DELETE.
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed {
            allow: vec!["POST".into()],
        }
        .into());
    }
    let accepts = |essence: &str| {
        req.headers().get_all(ACCEPT).any(|v| {
            v.to_str().unwrap_or_default().split(',').any(|part| {
                let media = part.split(';').next().unwrap_or_default().trim();
                media.eq_ignore_ascii_case(essence) || media == "*/*"
            })
        })
    };
    if !accepts("application/json") || !accepts("text/event-stream") {
        return Err(ApiError::NotAcceptable {
            need: "both application/json and text/event-stream",
        }
        .into());
    }
    if req.headers().get(CONTENT_TYPE).is_none() {
        return Err(ApiError::UnsupportedMediaType.into());
    }
    let bytes = body.bytes(&app).await?;

    let mut head = http::Request::builder()
        .method(http::Method::POST)
        .uri(req.uri().to_string());
    for (name, value) in req.headers() {
        head = head.header(name.as_str(), value.as_bytes());
    }
    let mut request = head
        .body(Full::new(bytes.freeze()))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("MCP request: {e}")))?;
    // Forcing */* out of Accept would change nothing: rmcp requires both types, checked above.
    request.extensions_mut().insert(caller);
    let answer = mcp.service.handle(request).await;

    let (parts, body) = answer.into_parts();
    let body: Bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let status = StatusCode::from_u16(parts.status.as_u16())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("MCP status: {e}")))?;
    let is_json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_server_error() && !is_json {
        return Err(ApiError::internal(anyhow::anyhow!(
            "MCP transport: {status} {}",
            String::from_utf8_lossy(&body)
        ))
        .into());
    }
    if status.is_client_error() && !is_json {
        // The transport's own refusals (a bad protocol-version header, say) are plain text:
        // the envelope carries their words.
        return Err(ApiError::McpProtocol {
            message: String::from_utf8_lossy(&body).into_owned(),
        }
        .into());
    }
    let mut out = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            out.append_header((name.as_str(), v));
        }
    }
    Ok(out.body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        assert_eq!(host_of("Example.COM:8080"), "example.com");
        assert_eq!(host_of("[::1]:80"), "::1");
        assert_eq!(host_of("127.0.0.1"), "127.0.0.1");
        assert_eq!(
            normalize_origin("https://App.example.com:443").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            normalize_origin("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        for bad in ["null", "https://x.com/path", "file:///etc", "x", ""] {
            assert_eq!(normalize_origin(bad), None, "{bad}");
        }
        assert_eq!(
            parse_origins("https://a.com, http://b.com:81").unwrap_or_default(),
            vec!["https://a.com".to_owned(), "http://b.com:81".to_owned()]
        );
        assert!(parse_origins("https://a.com/x").is_err());
    }
}
