//! The headers every delivery carries, in the order soketi sends them, with the signature
//! headers of the webhook's scheme.

use crate::config::Signing;
use crate::signature;

use super::{Attempt, Destination, Payload};

/// `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Switchyard/", env!("CARGO_PKG_VERSION"));

/// The delivery id: the same on every attempt of one delivery, so receivers can drop repeats.
pub const DELIVERY_ID_HEADER: &str = "X-Switchyard-Delivery";

/// The attempt number, 1 for the first.
pub const ATTEMPT_HEADER: &str = "X-Switchyard-Attempt";

/// Pusher signing's headers, named as soketi names them.
const PUSHER_HEADERS: [&str; 2] = ["X-Pusher-Key", "X-Pusher-Signature"];

/// Standard Webhooks' headers, lowercase as the spec writes them.
const STANDARD_WEBHOOKS_HEADERS: [&str; 3] =
    ["webhook-id", "webhook-timestamp", "webhook-signature"];

/// Headers the gateway sets that a webhook's `headers` may not set: both schemes' signature
/// headers (whichever the webhook uses, so a custom header never poses as the other's), the
/// delivery id and the attempt.
pub const RESERVED_HEADERS: [&str; 7] = [
    PUSHER_HEADERS[0],
    PUSHER_HEADERS[1],
    STANDARD_WEBHOOKS_HEADERS[0],
    STANDARD_WEBHOOKS_HEADERS[1],
    STANDARD_WEBHOOKS_HEADERS[2],
    DELIVERY_ID_HEADER,
    ATTEMPT_HEADER,
];

/// Header names and values for one attempt: `Accept`, `Content-Type`, `User-Agent`, the
/// webhook's own headers (replacing a default of the same name rather than repeating it), then
/// the signature headers of the webhook's scheme and the delivery id and attempt, which
/// nothing can override (config validation refuses them as custom headers). Names keep their
/// case: Lambda handlers read `headers['X-Pusher-Signature']` from a plain object.
pub fn delivery_headers(
    destination: &Destination,
    payload: &Payload,
    attempt: &Attempt,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = vec![
        ("Accept".into(), "application/json".into()),
        ("Content-Type".into(), "application/json".into()),
        ("User-Agent".into(), USER_AGENT.into()),
    ];
    for (name, value) in &destination.webhook.headers {
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(existing) => *existing = (name.clone(), value.clone()),
            None => headers.push((name.clone(), value.clone())),
        }
    }
    let signed = match &destination.webhook.signing {
        Signing::Pusher => {
            let signature = signature::sign(destination.secret.expose(), &payload.body);
            PUSHER_HEADERS
                .iter()
                .zip([destination.app_key.clone(), signature])
                .collect::<Vec<_>>()
        }
        Signing::StandardWebhooks(key) => {
            // The delivery id, not one per attempt: the spec's idempotency key. The timestamp
            // is the attempt's, so a retry after an outage is not refused as a replay.
            let id = attempt.delivery_id;
            let timestamp = payload.time_ms / 1000;
            let signature = key.sign(id, timestamp, &payload.body);
            STANDARD_WEBHOOKS_HEADERS
                .iter()
                .zip([id.to_owned(), timestamp.to_string(), signature])
                .collect()
        }
    };
    headers.extend(
        signed
            .into_iter()
            .map(|(name, value)| ((*name).into(), value)),
    );
    headers.push((DELIVERY_ID_HEADER.into(), attempt.delivery_id.to_owned()));
    headers.push((ATTEMPT_HEADER.into(), attempt.number.to_string()));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Batching, Secret, Webhook, validate};
    use crate::signature::StandardWebhooksKey;

    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn webhook(signing: serde_json::Value) -> Webhook {
        let mut hook = serde_json::json!({
            "url": "http://127.0.0.1:9/h", "event_types": ["client_event"],
            "headers": { "X-Tenant": "acme" },
        });
        hook.as_object_mut()
            .unwrap()
            .extend(signing.as_object().unwrap().clone());
        let tree = serde_json::json!({"apps": [{
            "id": "a", "key": "app-key", "secret": "app-secret", "webhooks": [hook],
        }]});
        let (mut config, _) = validate(&tree, std::path::Path::new(".")).unwrap();
        config.apps.remove(0).webhooks.remove(0)
    }

    fn headers_of(webhook: Webhook) -> Vec<(String, String)> {
        let destination = Destination {
            app_key: "app-key".into(),
            secret: Secret::new("app-secret"),
            batching: Batching::default(),
            webhook,
        };
        let payload = super::super::build(&[br#"{"name":"x"}"#], 1, 1_700_000_000_999);
        let attempt = Attempt {
            delivery_id: "00000000000000a1-7-9",
            number: 2,
        };
        delivery_headers(&destination, &payload, &attempt)
    }

    /// The signature headers of `headers`, after checking what surrounds them: the defaults
    /// and custom headers first, the delivery id and attempt last.
    fn signature_headers(headers: &[(String, String)]) -> Vec<(&str, &str)> {
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let n = names.len();
        assert_eq!(
            names[..4],
            ["Accept", "Content-Type", "User-Agent", "X-Tenant"]
        );
        assert_eq!(names[n - 2..], [DELIVERY_ID_HEADER, ATTEMPT_HEADER]);
        assert_eq!(headers[n - 2].1, "00000000000000a1-7-9");
        headers[4..n - 2]
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    const BODY: &[u8] = br#"{"time_ms":1700000000999,"events":[{"name":"x"}]}"#;

    #[test]
    fn pusher_signing_sends_the_app_key_and_the_hex_hmac_of_the_body() {
        let headers = headers_of(webhook(serde_json::json!({})));
        let signature = signature::sign("app-secret", BODY);
        assert_eq!(
            signature_headers(&headers),
            [
                ("X-Pusher-Key", "app-key"),
                ("X-Pusher-Signature", signature.as_str())
            ]
        );
    }

    #[test]
    fn standard_webhooks_signing_sends_id_timestamp_and_signature_and_no_pusher_header() {
        let signing = serde_json::json!({"signing": "standard-webhooks", "secret": WHSEC});
        let headers = headers_of(webhook(signing));
        let key = StandardWebhooksKey::parse(WHSEC).unwrap();
        // The id is the delivery's; the timestamp the body's time_ms, in seconds.
        let signature = key.sign("00000000000000a1-7-9", 1_700_000_000, BODY);
        assert_eq!(
            signature_headers(&headers),
            [
                ("webhook-id", "00000000000000a1-7-9"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", signature.as_str())
            ]
        );
    }
}
