//! Dashboard access: random bearer tokens (sessions, share links), their hashes, the cookies
//! that carry a session, and the CSRF checks of the POST forms.
//!
//! A session cookie holds a random 40-character token (about 238 bits); the database holds only
//! its SHA-256, never the token and never the API key that signed in. The cookie is HttpOnly,
//! SameSite=Strict, limited to `/dashboard`, and Secure when the request came over TLS (or a
//! proxy says so with `X-Forwarded-Proto: https`). Every POST form carries a CSRF token that is
//! checked in constant time: for a signed-in browser a value derived from the session token
//! (so nothing more is stored), and for the sign-in form a random value that the form's page
//! also set as a short-lived cookie (double submit). A request whose `Origin` names another
//! site is refused as well.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header::ORIGIN;
use actix_web::HttpRequest;
pub(crate) use app::tokens::{looks_like_token, new_token};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "hh_session";
/// The sign-in form's double-submit cookie.
pub(crate) const SIGNIN_COOKIE: &str = "hh_signin";
/// Where the dashboard's cookies are sent.
pub(crate) const COOKIE_PATH: &str = "/dashboard";
/// How long a sign-in form stays usable.
const SIGNIN_FORM_SECS: i64 = 3600;

/// The CSRF token of a session: derived from the session token, so it needs no storage and is
/// worthless without the cookie.
pub(crate) fn csrf_for_session(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"humanhours dashboard csrf\0");
    h.update(session_token.as_bytes());
    format!("{:x}", h.finalize())
}

/// Constant-time equality of two strings.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// True when the request came over TLS, directly or through a proxy that says so
/// (`X-Forwarded-Proto` / `Forwarded`).
pub(crate) fn is_https(req: &HttpRequest) -> bool {
    req.connection_info().scheme().eq_ignore_ascii_case("https")
}

/// False when the request carries an `Origin` other than this server's own (a cross-site
/// form post); true when it matches or is absent (older browsers, curl).
pub(crate) fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let info = req.connection_info();
    let ours = format!("{}://{}", info.scheme(), info.host());
    origin.eq_ignore_ascii_case(&ours)
}

fn base_cookie(name: &'static str, value: String, req: &HttpRequest) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_path(COOKIE_PATH);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(is_https(req));
    c
}

/// The session cookie for a new session that lives `ttl_secs`.
pub(crate) fn session_cookie(token: &str, ttl_secs: i64, req: &HttpRequest) -> Cookie<'static> {
    let mut c = base_cookie(SESSION_COOKIE, token.to_owned(), req);
    c.set_max_age(CookieDuration::seconds(ttl_secs));
    c
}

/// The sign-in form's cookie.
pub(crate) fn signin_cookie(token: &str, req: &HttpRequest) -> Cookie<'static> {
    let mut c = base_cookie(SIGNIN_COOKIE, token.to_owned(), req);
    c.set_max_age(CookieDuration::seconds(SIGNIN_FORM_SECS));
    c
}

/// A cookie that tells the browser to forget `name`.
pub(crate) fn removal(name: &'static str, req: &HttpRequest) -> Cookie<'static> {
    let mut c = base_cookie(name, String::new(), req);
    c.make_removal();
    c
}

/// The value of a cookie of the request, if it has the shape of a token.
pub(crate) fn token_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| looks_like_token(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::tokens::token_hash;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert!(looks_like_token(&a));
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_ne!(csrf_for_session(&a), token_hash(&a));
        assert!(!looks_like_token("short"));
        assert!(!looks_like_token(&format!("{}!", &a[..39])));
    }

    #[test]
    fn constant_time_eq_is_exact() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
