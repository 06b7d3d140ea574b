//! Signed (and unsigned) ingest requests.

use serde_json::Value;

use super::Gateway;

/// A signed ingest request: returns (status, response body).
pub fn post_signed(gateway: &Gateway, key: &str, secret: &str, body: &str) -> (u16, String) {
    let signature = switchyard::signature::sign(secret, body.as_bytes());
    post_raw(
        gateway,
        &[("X-Pusher-Key", key), ("X-Pusher-Signature", &signature)],
        body.as_bytes().to_vec(),
    )
}

/// An ingest request with exactly these headers (plus JSON content type unless given).
pub fn post_raw(gateway: &Gateway, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.post(gateway.url("/ingest/pusher")).body(body);
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

