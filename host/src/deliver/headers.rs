//! The headers every delivery carries, in the order soketi sends them.

use crate::config::Webhook;

use super::{Attempt, SignedPayload};

/// `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Switchyard/", env!("CARGO_PKG_VERSION"));

/// The delivery id: the same on every attempt of one delivery, so receivers can drop repeats.
pub const DELIVERY_ID_HEADER: &str = "X-Switchyard-Delivery";

/// The attempt number, 1 for the first.
pub const ATTEMPT_HEADER: &str = "X-Switchyard-Attempt";

/// Headers the gateway sets on every delivery that a webhook's `headers` may not set.
pub const RESERVED_HEADERS: [&str; 4] = [
    "X-Pusher-Key",
    "X-Pusher-Signature",
    DELIVERY_ID_HEADER,
    ATTEMPT_HEADER,
];

/// Header names and values for one delivery: `Accept`, `Content-Type`, `User-Agent`, the
/// webhook's own headers (replacing a default of the same name rather than repeating it), then
/// `X-Pusher-Key`, `X-Pusher-Signature` and the delivery id and attempt, which nothing can
/// override (config validation refuses them as custom headers). Names keep their case: Lambda
/// handlers read `headers['X-Pusher-Signature']` from a plain object.
pub fn delivery_headers(
    webhook: &Webhook,
    app_key: &str,
    payload: &SignedPayload,
    attempt: &Attempt,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = vec![
        ("Accept".into(), "application/json".into()),
        ("Content-Type".into(), "application/json".into()),
        ("User-Agent".into(), USER_AGENT.into()),
    ];
    for (name, value) in &webhook.headers {
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(existing) => *existing = (name.clone(), value.clone()),
            None => headers.push((name.clone(), value.clone())),
        }
    }
    headers.push(("X-Pusher-Key".into(), app_key.into()));
    headers.push(("X-Pusher-Signature".into(), payload.signature.clone()));
    headers.push((DELIVERY_ID_HEADER.into(), attempt.delivery_id.to_owned()));
    headers.push((ATTEMPT_HEADER.into(), attempt.number.to_string()));
    headers
}
