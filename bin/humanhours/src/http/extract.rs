//! The typed edges of a request: who calls ([`Auth`]) and the JSON body ([`JsonBody`]: content
//! type, size limit, read deadline, JSON, object), so no handler reads the extensions or the
//! payload by hand.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use app::auth::Caller;
use app::track::input::parse_json;
use app::App;
use futures_util::StreamExt as _;
use serde_json::{Map, Value};

use crate::http::errors::{ApiError, HttpError};

/// The caller, as the key middleware (`http::auth::require_key`) verified it. On a route
/// mounted without that middleware it is an internal error, never an anonymous caller.
pub(crate) struct Auth(pub Arc<Caller>);

impl FromRequest for Auth {
    type Error = HttpError;
    type Future = Ready<Result<Self, HttpError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Arc<Caller>>()
                .cloned()
                .map(Auth)
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("route mounted without auth")).into()
                }),
        )
    }
}

/// A request's JSON body, read when the handler asks for it (so a route checks its plan gate
/// or path first, as it always has): the Content-Type checked (JSON only, or none), at most
/// the body limit read, then the text, a parsed JSON value, or a JSON object.
pub(crate) struct JsonBody {
    req: HttpRequest,
    payload: Payload,
}

impl FromRequest for JsonBody {
    type Error = HttpError;
    type Future = Ready<Result<Self, HttpError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Ok(JsonBody {
            req: req.clone(),
            payload: payload.take(),
        }))
    }
}

impl JsonBody {
    /// The body as sent, read whole within `body_timeout` (a slow body is a 408, and its
    /// connection is closed: the rest of it is never read).
    pub(crate) async fn bytes(self, app: &App) -> Result<web::BytesMut, ApiError> {
        require_json(&self.req)?;
        read_within(app, self.payload, app.config.max_body_bytes).await
    }

    /// The body parsed as JSON.
    pub(crate) async fn value(self, app: &App) -> Result<Value, ApiError> {
        parse_json(&self.bytes(app).await?)
    }

    /// The body, which must be a JSON object.
    pub(crate) async fn object(self, app: &App) -> Result<Map<String, Value>, ApiError> {
        match self.value(app).await? {
            Value::Object(m) => Ok(m),
            _ => Err(ApiError::invalid("the body must be a JSON object")),
        }
    }
}

/// Most bytes a route without an API key reads (API.md §14): its forms hold a key and a token,
/// and anyone who can reach the port may send one.
pub(crate) const UNKEYED_BODY_LIMIT: usize = 8 * 1024;

/// The body of a route without an API key (the dashboard's forms): at most
/// [`UNKEYED_BODY_LIMIT`] bytes, read within `body_timeout`, like [`JsonBody`].
pub(crate) struct SmallBody(Payload);

impl FromRequest for SmallBody {
    type Error = HttpError;
    type Future = Ready<Result<Self, HttpError>>;

    fn from_request(_: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Ok(SmallBody(payload.take())))
    }
}

impl SmallBody {
    /// The body, or 413 past the limit, or 408 (and a closed connection) past the deadline.
    pub(crate) async fn read(self, app: &App) -> Result<web::BytesMut, ApiError> {
        read_within(app, self.0, UNKEYED_BODY_LIMIT).await
    }
}

/// Reads a body of at most `limit` bytes within the configured deadline.
async fn read_within(app: &App, payload: Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let deadline = app.config.body_timeout;
    tokio::time::timeout(deadline, read_body(payload, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout {
            secs: deadline.as_secs().max(1),
        })?
}

/// JSON only: a body of another declared type is refused rather than guessed at.
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(ct) = req.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = ct
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Reads the body up to `limit` bytes. A larger body is read to its end and discarded, so the
/// client gets the 413 answer instead of a connection reset.
async fn read_body(mut payload: Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    let mut too_large = false;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("could not read the body: {e}")))?;
        if too_large || body.len() + chunk.len() > limit {
            too_large = true;
            body.clear();
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if too_large {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(body)
}

/// The `Idempotency-Key` header as [`app::track::KeyHeader`].
pub(crate) fn key_header(req: &HttpRequest) -> app::track::KeyHeader<'_> {
    let mut all = req.headers().get_all("idempotency-key");
    let first = all.next();
    if all.next().is_some() {
        return app::track::KeyHeader::Repeated;
    }
    match first {
        None => app::track::KeyHeader::Absent,
        Some(v) => match v.to_str() {
            Ok(text) => app::track::KeyHeader::Text(text),
            Err(_) => app::track::KeyHeader::Unreadable,
        },
    }
}

/// The query string as checked read parameters.
pub(crate) fn params(req: &HttpRequest) -> Result<app::read::params::Params, ApiError> {
    app::read::params::Params::from_query(req.query_string())
}

/// The client's address, for the limits on failed key checks: the last address in the
/// configured proxy header (the one the proxy itself added), else the TCP peer.
pub(crate) fn client_addr(
    app: &App,
    headers: &actix_web::http::header::HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Option<std::net::IpAddr> {
    let from_header = app.config.client_ip_header.as_deref().and_then(|name| {
        let last = headers.get_all(name).last()?.to_str().ok()?;
        let addr = last.rsplit(',').next()?.trim();
        addr.parse::<std::net::IpAddr>()
            .ok()
            .or_else(|| addr.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
    });
    from_header.or_else(|| peer.map(|a| a.ip()))
}
