//! Signed (and unsigned) ingest requests.

use std::sync::LazyLock;
use std::time::Duration;

use serde_json::Value;

use super::Gateway;

/// One HTTP client for every test request in the process: requests reuse its connections,
/// idle ones only for half a second, well within the shortest header read timeout a test
/// gives the gateway (which closes a connection idle that long).
pub fn client() -> &'static reqwest::blocking::Client {
    static CLIENT: LazyLock<reqwest::blocking::Client> = LazyLock::new(|| {
        reqwest::blocking::Client::builder()
            .pool_idle_timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    });
    &CLIENT
}

/// A signed ingest request: returns (status, response body).
pub fn post_signed(gateway: &Gateway, key: &str, secret: &str, body: &str) -> (u16, String) {
    let signature = switchyard::signature::sign(secret, body.as_bytes());
    post_raw(
        gateway,
        &[("X-Pusher-Key", key), ("X-Pusher-Signature", &signature)],
        body.as_bytes().to_vec(),
    )
}

/// The headers of an ingest request of `body` from the test app (for clients of their own).
pub fn signed_headers(body: &str) -> [(&'static str, String); 3] {
    [
        ("Content-Type", "application/json".to_owned()),
        ("X-Pusher-Key", super::KEY.to_owned()),
        (
            "X-Pusher-Signature",
            switchyard::signature::sign(super::SECRET, body.as_bytes()),
        ),
    ]
}

/// A signed ingest request: its status, its `Retry-After` header, and its body.
pub fn post_signed_with_retry_after(
    gateway: &Gateway,
    body: &str,
) -> (u16, Option<String>, String) {
    let mut request = client()
        .post(gateway.url("/ingest/pusher"))
        .body(body.to_owned());
    for (name, value) in signed_headers(body) {
        request = request.header(name, value);
    }
    let response = request.send().unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        response.status().as_u16(),
        retry_after,
        response.text().unwrap(),
    )
}

/// An ingest request with exactly these headers (plus JSON content type unless given).
pub fn post_raw(gateway: &Gateway, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut request = client().post(gateway.url("/ingest/pusher")).body(body);
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("Content-Type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// `{"time_ms": now, "events": events}` as a string.
pub fn batch(events: &[Value]) -> String {
    serde_json::json!({ "time_ms": switchyard::clock::now_ms(), "events": events }).to_string()
}
