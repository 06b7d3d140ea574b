//! The headers every delivery carries, in the order soketi sends them.

use crate::config::Webhook;

use super::SignedPayload;

/// `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Switchyard/", env!("CARGO_PKG_VERSION"));

/// Header names and values for one delivery: `Accept`, `Content-Type`, `User-Agent`, the
/// webhook's own headers (replacing a default of the same name rather than repeating it), then
/// `X-Pusher-Key` and `X-Pusher-Signature`, which nothing can override (config validation
/// refuses them as custom headers). Names keep their case: Lambda handlers read
/// `headers['X-Pusher-Signature']` from a plain object.
pub fn delivery_headers(
    webhook: &Webhook,
    app_key: &str,
    payload: &SignedPayload,
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
    headers
}
