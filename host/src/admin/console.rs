//! The console's page: `GET /` (the page, or the sign-in form when a token is set and the
//! browser has not signed in), `POST /console/login`, `POST /console/logout`, and the page's
//! script and style under `/console/assets/`. Everything is compiled into the binary; the page
//! reads the JSON endpoints of the admin API ([`super::overview`], [`super::dlq`]).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Admin;
use super::auth::{COOKIE, Caller, same_origin};

const INDEX: &str = include_str!("console/index.html");
const LOGIN: &str = include_str!("console/login.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// Scripts and styles from the binary only; no framing, no inline code, no other hosts.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /`.
pub async fn page(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    if admin.keys.caller(&headers).is_none() {
        return sign_in_form(&admin, StatusCode::UNAUTHORIZED, "");
    }
    let html = INDEX
        .replace("{{csrf}}", admin.keys.csrf())
        .replace("{{version}}", env!("CARGO_PKG_VERSION"));
    html_response(StatusCode::OK, html)
}

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

/// `POST /console/login`: the token, from the sign-in form.
pub async fn login(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        return sign_in_form(&admin, StatusCode::FORBIDDEN, "Sign in from this page.");
    }
    if !admin.keys.requires_token() {
        return see_home(None);
    }
    if !admin.keys.is_token(&form.token) {
        tracing::warn!("console sign-in refused: wrong token");
        return sign_in_form(
            &admin,
            StatusCode::UNAUTHORIZED,
            "That is not the admin token.",
        );
    }
    admin.audit.record(Caller::Console, "sign_in", "", "");
    see_home(Some(admin.keys.sign_in_cookie()))
}

/// `POST /console/logout`.
pub async fn logout(headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    see_home(Some(format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    )))
}

/// `GET /console/assets/{file}`: the page's script and style (no data in them).
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "console.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn sign_in_form(admin: &Admin, status: StatusCode, error: &str) -> Response {
    let message = if error.is_empty() && admin.keys.requires_token() {
        "This gateway's admin listener needs its token."
    } else {
        error
    };
    let html = LOGIN
        .replace("{{error}}", &escape(message))
        .replace("{{version}}", env!("CARGO_PKG_VERSION"));
    html_response(status, html)
}

/// 303 to the page, setting (or clearing) the cookie.
fn see_home(cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with the page's own form
        // posts, and sign-in checks the origin.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
