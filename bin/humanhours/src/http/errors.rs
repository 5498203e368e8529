//! The HTTP face of [`app::ApiError`] (whose module holds the error policy): the status, the
//! `Retry-After`, `Allow` and `WWW-Authenticate` headers and the JSON envelope. Handlers return [`HttpError`],
//! which every `ApiError` (and so every store error) converts into with `?`.

use actix_web::http::header::{HeaderValue, ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

pub use app::error::{ErrorBody, ErrorEnvelope, ErrorKind};
pub use app::ApiError;

/// An [`ApiError`] on its way to the client.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl From<store::StoreError> for HttpError {
    fn from(e: store::StoreError) -> Self {
        HttpError(e.into())
    }
}

/// The status of an error as actix's type.
pub fn status_of(e: &ApiError) -> StatusCode {
    StatusCode::from_u16(e.status_and_code().0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The whole answer of an error: status, headers, envelope. Logs an internal error's chain.
pub fn error_response(e: &ApiError) -> HttpResponse {
    let mut resp = error_head(e);
    resp.json(ErrorEnvelope {
        error: e.error_body(),
    })
}

/// The status and headers of an error's answer, whatever its body (JSON here, HTML in the
/// dashboard): `Retry-After`, `Allow`, `WWW-Authenticate` on every 401 (RFC 6750; MCP clients
/// read it, API.md §11), and a closed connection after a body that timed out.
pub fn error_head(e: &ApiError) -> actix_web::HttpResponseBuilder {
    let status = status_of(e);
    let mut resp = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        resp.insert_header((
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"humanhours\""),
        ));
    }
    if let Some(secs) = e.retry_after() {
        resp.insert_header((RETRY_AFTER, HeaderValue::from(secs)));
    }
    if let ApiError::BodyTimeout { .. } = e {
        // The rest of the body is never read: the connection cannot carry another request.
        resp.force_close();
    }
    if let ApiError::MethodNotAllowed { allow } = e {
        if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
            resp.insert_header((ALLOW, v));
        }
    }
    resp
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        error_response(&self.0)
    }
}
