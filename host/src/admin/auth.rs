//! Who may use the admin listener, and how a browser proves a request is the console's own.
//!
//! - `Authorization: Bearer <token>` (the CLI, scripts): as it always was.
//! - The console's cookie: signing in with the token sets `switchyard_console`, `HttpOnly` (no
//!   script reads it) and `SameSite=Strict` (no other site's page sends it). Its value is
//!   derived from the token, never the token itself; changing the token signs everyone out.
//! - A browser's request that changes something (it has `Origin` or `Sec-Fetch-Site`, or the
//!   cookie) must also carry `X-Switchyard-CSRF`, whose value only the console page holds.
//!   Another site's form post has neither, with a token set or not, and is refused.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::Admin;

/// The console's cookie.
pub const COOKIE: &str = "switchyard_console";
/// The header that carries the page's CSRF value.
pub const CSRF_HEADER: &str = "x-switchyard-csrf";

/// How a request was let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// With the bearer token.
    Token,
    /// With the console's cookie.
    Console,
    /// No token is configured: the listener is open to whoever reaches it.
    Open,
}

impl Caller {
    /// Who did it, for the admin actions' record.
    pub fn name(self) -> &'static str {
        match self {
            Caller::Token | Caller::Open => "api",
            Caller::Console => "console",
        }
    }
}

/// The token and the values derived from it.
pub struct Keys {
    token: Option<String>,
    /// The cookie's value.
    session: String,
    /// The page's CSRF value.
    csrf: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// From the configured token; without one, from a key made at random for this process.
    pub fn new(token: Option<&str>) -> Self {
        let key: Vec<u8> = match token {
            Some(token) => token.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        Self {
            token: token.map(str::to_owned),
            session: derive(&key, "switchyard console session"),
            csrf: derive(&key, "switchyard console csrf"),
        }
    }

    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the token.
    pub fn is_token(&self, given: &str) -> bool {
        self.token
            .as_deref()
            .is_some_and(|t| constant_time_eq(given.as_bytes(), t.as_bytes()))
    }

    /// The `Set-Cookie` value that signs a browser in.
    pub fn sign_in_cookie(&self) -> String {
        format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            self.session
        )
    }

    /// How the request is let in, if it is.
    pub fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(given) = bearer {
            return self.is_token(given).then_some(Caller::Token);
        }
        if self.token.is_none() {
            // The console page's own requests carry its CSRF value: recorded as the console's.
            return Some(if self.has_csrf(headers) {
                Caller::Console
            } else {
                Caller::Open
            });
        }
        cookie(headers, COOKIE)
            .filter(|value| constant_time_eq(value.as_bytes(), self.session.as_bytes()))
            .map(|_| Caller::Console)
    }

    /// Whether a state-changing request from `caller` may go on: anything but a browser's
    /// request must carry the page's CSRF value.
    fn may_change(&self, caller: Caller, headers: &HeaderMap) -> bool {
        let from_browser = caller == Caller::Console
            || headers.contains_key(header::ORIGIN)
            || headers.contains_key("sec-fetch-site");
        if caller == Caller::Token || !from_browser {
            return true;
        }
        self.has_csrf(headers)
    }

    fn has_csrf(&self, headers: &HeaderMap) -> bool {
        headers
            .get(CSRF_HEADER)
            .is_some_and(|v| constant_time_eq(v.as_bytes(), self.csrf.as_bytes()))
    }
}

/// Lets in requests with the token or the console's cookie (or any, when no token is set),
/// and refuses a browser's state-changing request without the page's CSRF value.
pub async fn require_caller(
    State(admin): State<Arc<Admin>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(caller) = admin.keys.caller(request.headers()) else {
        let body = json!({
            "error": "admin endpoints need Authorization: Bearer <token> (or the console's sign-in)"
        });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    if !request.method().is_safe() && !admin.keys.may_change(caller, request.headers()) {
        let body = json!({
            "error": "a browser's request that changes something must come from the console page (X-Switchyard-CSRF)"
        });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Whether a browser says the request comes from a page of this listener (or says nothing:
/// not a browser). `Sec-Fetch-Site` when the browser sends it, else `Origin` against `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(HeaderName::from_static("sec-fetch-site")) {
        return site == "same-origin" || site == "none";
    }
    match text(header::ORIGIN) {
        None => true,
        Some(origin) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| Some(authority) == text(header::HOST)),
    }
}

/// The value of cookie `name`, if the request has it.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// HMAC-SHA256 of `label` under `key`, in hex.
fn derive(key: &[u8], label: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(label.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Compares without an early exit, so timing does not reveal how much of a secret matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (header::HeaderName::from_static(n), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn the_token_or_the_cookie_lets_in_and_nothing_else_does() {
        let keys = Keys::new(Some("s3cret"));
        let cookie = keys.sign_in_cookie();
        let cookie = cookie.split(';').next().unwrap();
        assert!(!cookie.contains("s3cret"), "the cookie is not the token");
        let bearer = headers(&[("authorization", "Bearer s3cret")]);
        assert_eq!(keys.caller(&bearer), Some(Caller::Token));
        let with_cookie = headers(&[("cookie", &format!("theme=dark; {cookie}"))]);
        assert_eq!(keys.caller(&with_cookie), Some(Caller::Console));
        for refused in [
            headers(&[]),
            headers(&[("authorization", "Bearer wrong")]),
            headers(&[("cookie", "switchyard_console=s3cret")]),
        ] {
            assert_eq!(keys.caller(&refused), None);
        }
        let open = Keys::new(None);
        assert_eq!(open.caller(&headers(&[])), Some(Caller::Open));
        let from_page = headers(&[("x-switchyard-csrf", open.csrf())]);
        assert_eq!(open.caller(&from_page), Some(Caller::Console));
    }

    #[test]
    fn a_browsers_change_needs_the_pages_csrf_value() {
        let keys = Keys::new(None);
        let cross_site = headers(&[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!keys.may_change(Caller::Open, &cross_site));
        assert!(
            keys.may_change(Caller::Open, &headers(&[])),
            "the CLI, no token set"
        );
        let page = headers(&[
            ("origin", "http://127.0.0.1:7701"),
            ("x-switchyard-csrf", keys.csrf()),
        ]);
        assert!(keys.may_change(Caller::Console, &page));
        assert!(!keys.may_change(Caller::Console, &headers(&[])));
        assert!(
            keys.may_change(Caller::Token, &cross_site),
            "bearer is never ambient"
        );
    }

    #[test]
    fn same_origin_compares_the_origin_with_the_host() {
        let same = headers(&[
            ("host", "127.0.0.1:7701"),
            ("origin", "http://127.0.0.1:7701"),
        ]);
        assert!(same_origin(&same));
        let other = headers(&[
            ("host", "127.0.0.1:7701"),
            ("origin", "http://127.0.0.1:9999"),
        ]);
        assert!(!same_origin(&other));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        let own_form = headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert!(same_origin(&own_form), "Sec-Fetch-Site is believed first");
        assert!(!same_origin(&headers(&[("origin", "null")])));
        assert!(same_origin(&headers(&[])));
    }
}
