//! What the Lambda client puts on the wire, seen by a plain HTTP receiver standing in for the
//! Lambda endpoint: which credentials sign the request (SigV4's `Credential=` scope), the
//! invocation type header, the body (with Standard Webhooks signing too), and how timeouts and
//! error answers are classified.

use super::emulator::js_stringify;
use super::{KEY, PRESENCE_EVENTS, SECRET, TRICKY_CLIENT_EVENT, config, send, start_gateway};
use crate::support::{Received, Sink, run_cli};

const FUNCTION: &str = "arn:aws:lambda:eu-central-1:123456789012:function:hooks:live";

/// A Lambda webhook whose endpoint is `endpoint`, with `lambda` options as TOML.
fn webhook(id: &str, events: &str, lambda: &str) -> String {
    format!(
        r#"
[[apps.webhooks]]
id = "{id}"
lambda_function = "{FUNCTION}"
event_types = [{events}]
lambda = {lambda}
"#
    )
}

fn by_prefix<'a>(got: &'a [Received], prefix: &str) -> &'a Received {
    got.iter()
        .find(|r| r.path.starts_with(prefix))
        .unwrap_or_else(|| panic!("nothing under {prefix}"))
}

#[test]
fn requests_are_signed_with_the_configured_or_the_environment_credentials() {
    let sink = Sink::start(SECRET, KEY);
    let webhooks = [
        webhook(
            "explicit",
            r#""channel_occupied""#,
            &format!(
                r#"{{ client_options = {{ region = "eu-central-1", endpoint = "{}", credentials = {{ accessKeyId = "AKIDCONFIG", secretAccessKey = "config-secret-key", sessionToken = "config-session-token" }} }} }}"#,
                sink.url("/explicit")
            ),
        ),
        webhook(
            "from-env",
            r#""channel_vacated""#,
            &format!(
                r#"{{ async = true, region = "eu-west-1", client_options = {{ endpoint = "{}" }} }}"#,
                sink.url("/env")
            ),
        ),
    ];
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret-key"),
    ];
    let gateway = start_gateway(&config(&webhooks.concat()), &env);
    send(&gateway, &[PRESENCE_EVENTS[2], PRESENCE_EVENTS[3]]);
    let got = sink.expect(2);

    let explicit = by_prefix(&got, "/explicit/");
    // The ARN with its alias is the function name, path-escaped.
    assert_eq!(
        explicit.path,
        "/explicit/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-central-1%3A123456789012%3Afunction%3Ahooks%3Alive/invocations"
    );
    let auth = explicit.header("authorization");
    assert!(
        auth.contains("Credential=AKIDCONFIG/")
            && auth.contains("/eu-central-1/lambda/aws4_request"),
        "{auth}"
    );
    assert_eq!(
        explicit.header("x-amz-security-token"),
        "config-session-token"
    );
    assert_eq!(explicit.header("x-amz-invocation-type"), "RequestResponse");
    let body = explicit.json();
    assert_eq!(body["payload"]["events"][0]["name"], "channel_occupied");
    assert_eq!(body["headers"]["X-Pusher-Key"], KEY);
    let signed = serde_json::to_vec(&body["payload"]).unwrap();
    let signature = body["headers"]["X-Pusher-Signature"].as_str().unwrap();
    assert!(switchyard::signature::verify(SECRET, &signed, signature));

    let from_env = by_prefix(&got, "/env/");
    let auth = from_env.header("authorization");
    assert!(
        auth.contains("Credential=AKIDFROMENV/") && auth.contains("/eu-west-1/lambda/aws4_request"),
        "{auth}"
    );
    assert_eq!(from_env.header("x-amz-invocation-type"), "Event");
    assert_eq!(
        from_env.json()["payload"]["events"][0]["name"],
        "channel_vacated"
    );

    let logs = gateway.logs().join("\n");
    for secret in [
        "config-secret-key",
        "config-session-token",
        "env-secret-key",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}

#[test]
fn a_slow_function_times_out_after_delivery_timeout_ms() {
    let sink = Sink::start(SECRET, KEY);
    let lambda = format!(
        r#"{{ client_options = {{ region = "eu-central-1", endpoint = "{}", credentials = {{ accessKeyId = "AKID", secretAccessKey = "s" }} }} }}"#,
        sink.url("/slow/5000")
    );
    let config = config(&webhook("slow", r#""channel_occupied""#, &lambda))
        .replace("[delivery]\n", "[delivery]\ntimeout_ms = 300\n");
    let gateway = start_gateway(&config, &[]);
    send(&gateway, &[PRESENCE_EVENTS[2]]);
    let failed = gateway.wait_for_log(&["delivery failed", "slow"]);
    assert!(
        failed.contains(&format!(
            "invocation of `{FUNCTION}` timed out after 300 ms"
        )),
        "{failed}"
    );
}

#[test]
fn throttling_and_server_errors_are_reported_as_such() {
    let sink = Sink::start(SECRET, KEY);
    let lambda = |path: &str| {
        format!(
            r#"{{ client_options = {{ region = "eu-central-1", endpoint = "{}", credentials = {{ accessKeyId = "AKID", secretAccessKey = "s" }} }} }}"#,
            sink.url(path)
        )
    };
    let webhooks = [
        webhook("throttled", r#""channel_occupied""#, &lambda("/status/429")),
        webhook("broken", r#""channel_occupied""#, &lambda("/status/503")),
    ];
    let retries = "\n[delivery.retry]\ninitial_interval_ms = 100\nmax_interval_ms = 200\n";
    let config =
        config(&webhooks.concat()).replace("[delivery]\n", &format!("{retries}[delivery]\n"));
    let gateway = start_gateway(&config, &[]);
    send(&gateway, &[PRESENCE_EVENTS[2]]);
    let throttled = gateway.wait_for_log(&["delivery failed", "throttled"]);
    assert!(
        throttled.contains("Lambda throttled the invocation") && throttled.contains("HTTP 429"),
        "{throttled}"
    );
    let broken = gateway.wait_for_log(&["delivery failed", "broken"]);
    assert!(broken.contains("HTTP 503"), "{broken}");
    // Both are retried by the gateway, each attempt one request: the SDK does not retry
    // behind it (an SDK retry would repeat an attempt number).
    let attempts = |got: &[crate::support::Received], prefix: &str| -> Vec<String> {
        got.iter()
            .filter(|r| r.path.starts_with(prefix))
            .map(|r| {
                r.json()["headers"]["X-Switchyard-Attempt"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let got = sink.until("three attempts each", |got| {
        attempts(got, "/status/429").len() >= 3 && attempts(got, "/status/503").len() >= 3
    });
    for prefix in ["/status/429", "/status/503"] {
        assert_eq!(attempts(&got, prefix)[..3], ["1", "2", "3"], "{prefix}");
    }
}

#[test]
fn no_credentials_anywhere_is_a_clear_error() {
    let sink = Sink::start(SECRET, KEY);
    let lambda = format!(
        r#"{{ client_options = {{ region = "eu-central-1", endpoint = "{}" }} }}"#,
        sink.url("/")
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_PROFILE", ""),
    ];
    let gateway = start_gateway(
        &config(&webhook("nocreds", r#""channel_occupied""#, &lambda)),
        &env,
    );
    send(&gateway, &[PRESENCE_EVENTS[2]]);
    let failed = gateway.wait_for_log(&["delivery failed", "nocreds"]);
    assert!(
        failed.contains(&format!("no AWS credentials to invoke `{FUNCTION}`")),
        "{failed}"
    );
    assert!(
        failed.contains("no credentials found in chain"),
        "says where it looked: {failed}"
    );
    sink.assert_nothing_more(&gateway);
}

#[test]
fn check_never_prints_lambda_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let lambda = r#"{ client_options = { credentials = { accessKeyId = "AKIDCHECK", secretAccessKey = "check-secret-key", sessionToken = "check-token" }, bogus = 1 } }"#;
    std::fs::write(
        &path,
        config(&webhook("w", r#""channel_occupied""#, lambda)),
    )
    .unwrap();
    let (code, out) = run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "the unknown field is reported: {out}");
    assert!(out.contains("bogus"), "{out}");
    assert!(
        !out.contains("check-secret-key") && !out.contains("check-token"),
        "{out}"
    );
}

#[test]
fn standard_webhooks_signing_travels_in_the_invocation_headers() {
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let lambda_endpoint = Sink::start(SECRET, KEY);
    let receiver = Sink::start_standard_webhooks(whsec);
    let lambda = format!(
        r#"{{ client_options = {{ region = "eu-central-1", endpoint = "{}", credentials = {{ accessKeyId = "AKID", secretAccessKey = "s" }} }} }}"#,
        lambda_endpoint.url("/lambda")
    );
    let webhook = webhook("standard", r#""client_event""#, &lambda)
        + &format!("signing = \"standard-webhooks\"\nsecret = \"{whsec}\"\n");
    let gateway = start_gateway(&config(&webhook), &[]);
    send(&gateway, &[TRICKY_CLIENT_EVENT]);
    let invocation = lambda_endpoint.expect(1).remove(0);

    // `{"payload":<the signed body>,"headers":{..}}`: the body's bytes, as a handler in any
    // runtime can take them (the Rust example's RawValue), and what Node.js's
    // `JSON.stringify(event.payload)` gives back.
    let raw = String::from_utf8(invocation.body.clone()).unwrap();
    let end = raw.rfind(r#","headers":{"#).unwrap();
    let body = raw["{\"payload\":".len()..end].to_owned();
    assert_eq!(js_stringify(&body), body);
    // The headers alone: serde_json refuses the lone surrogate in the payload.
    let rest: serde_json::Value = serde_json::from_str(&format!("{{{}", &raw[end + 1..])).unwrap();
    let headers = rest["headers"].as_object().unwrap();
    assert!(
        headers.keys().all(|name| !name.starts_with("X-Pusher-")),
        "{headers:?}"
    );
    // Given to the official library as a handler would: the payload and the headers object.
    let header = |name: &str| headers[name].as_str().unwrap();
    let replayed = [
        ("webhook-id", header("webhook-id")),
        ("webhook-timestamp", header("webhook-timestamp")),
        ("webhook-signature", header("webhook-signature")),
    ];
    let verified = receiver.post("/from-lambda", &replayed, body.into_bytes());
    assert_eq!(verified.standard_webhooks.as_deref(), Some("valid"));
    assert_eq!(header("webhook-id"), header("X-Switchyard-Delivery"));
}
