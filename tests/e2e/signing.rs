//! Signing per webhook, end to end: Pusher's (the default, as soketi signs) checked by Pusher's
//! SDKs, and Standard Webhooks' checked by the official `standardwebhooks` library in a real
//! Python receiver, which must accept every delivery and refuse tampered or stale ones.

use serde_json::{Value, json};
use switchyard::signature::StandardWebhooksKey;

use crate::support::{
    Gateway, KEY, Received, SECRET, Sink, batch, one_app_config, post_signed,
    python_pusher_validate, run_cli, with_free_admin_port, write_atomically,
};

/// The whsec_ secret of the Standard Webhooks webhooks (the spec's example key).
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What must never show: part of the key of [`WHSEC`].
const WHSEC_PART: &str = "MfKQ9r8G";

fn events() -> Vec<Value> {
    vec![
        json!({"name": "member_added", "channel": "presence-lobby", "user_id": "7"}),
        json!({"name": "client_event", "channel": "private-chat", "event": "client-typing",
               "data": "{\"text\":\"héllo ☃ 𝄞\",\"n\":1e21}", "socket_id": "1.2", "user_id": "7"}),
    ]
}

fn names_starting_with<'a>(delivery: &'a Received, prefix: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = delivery
        .headers
        .keys()
        .map(String::as_str)
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// The body after `time_ms`: the events, which both schemes sign in the same bytes.
fn events_bytes(delivery: &Received) -> &[u8] {
    let at = delivery.body.iter().position(|&b| b == b',').unwrap();
    &delivery.body[at..]
}

fn now_s() -> u64 {
    switchyard::clock::now_ms() / 1000
}

#[test]
fn standard_webhooks_deliveries_pass_the_official_library_and_pusher_ones_are_unchanged() {
    let pusher = Sink::start(SECRET, KEY);
    let receiver = Sink::start_standard_webhooks(WHSEC);
    let config = one_app_config(
        "\n[delivery]\nlanes = 1\n",
        &format!(
            r#"
[[apps.webhooks]]
id = "pusher"
url = "{pusher}"
event_types = ["member_added", "client_event"]

[[apps.webhooks]]
id = "standard"
url = "{standard}"
event_types = ["member_added", "client_event"]
signing = "standard-webhooks"
secret = "{WHSEC}"

[[apps.webhooks]]
id = "retried"
url = "{retried}"
event_types = ["member_added"]
signing = "standard-webhooks"
secret = "{WHSEC}"
retry = {{ initial_interval_ms = 2500 }}
"#,
            pusher = pusher.url("/pusher"),
            standard = receiver.url("/standard"),
            retried = receiver.url("/fail-once/retried"),
        ),
    );
    let gateway = Gateway::start(&config);
    let (status, answer) = post_signed(&gateway, KEY, SECRET, &batch(&events()));
    assert_eq!(status, 200, "{answer}");

    // Pusher signing, unchanged: both Pusher SDKs and a JS receiver accept it; nothing of
    // Standard Webhooks goes with it.
    let pushed = pusher.expect(1).remove(0);
    assert_eq!(pushed.header("x-pusher-key"), KEY);
    assert_eq!(pushed.pusher_sdk_valid, Some(true), "Pusher's Node SDK");
    assert_eq!(pushed.js_signature_ok, Some(true));
    assert_eq!(names_starting_with(&pushed, "webhook-"), Vec::<&str>::new());
    let verdicts = python_pusher_validate(KEY, SECRET, std::slice::from_ref(&pushed));
    assert_eq!(verdicts, ["valid"], "Pusher's Python SDK");

    // Standard Webhooks: the library accepts every delivery, the one answered 503 and its retry
    // included. No X-Pusher-* header goes with them.
    let mut got = receiver.expect(3);
    receiver.assert_nothing_more(&gateway);
    got.sort_by_key(|r| (r.path.clone(), r.attempt()));
    let [retry_1, retry_2, standard] = got.try_into().unwrap();
    for delivery in [&standard, &retry_1, &retry_2] {
        assert_eq!(
            delivery.standard_webhooks.as_deref(),
            Some("valid"),
            "{delivery:#?}"
        );
        assert_eq!(
            names_starting_with(delivery, "x-pusher-"),
            Vec::<&str>::new()
        );
        assert_eq!(
            names_starting_with(delivery, "webhook-"),
            ["webhook-id", "webhook-signature", "webhook-timestamp"]
        );
        // A header sent once (a receiver would see a repeat joined with ", ").
        assert!(!delivery.header("webhook-signature").contains(", "));
        assert_eq!(delivery.header("webhook-id"), delivery.delivery_id());
        let time_ms = delivery.json()["time_ms"].as_u64().unwrap();
        assert_eq!(
            delivery.header("webhook-timestamp"),
            (time_ms / 1000).to_string(),
            "the attempt's time, in seconds"
        );
        assert!(time_ms.abs_diff(switchyard::clock::now_ms()) < 60_000);
    }
    assert_eq!(standard.path, "/standard");
    assert_eq!(standard.status, 200);
    assert_eq!(
        standard.event_names(),
        [
            ("member_added".into(), "presence-lobby".into()),
            ("client_event".into(), "private-chat".into())
        ]
    );
    assert_eq!(
        events_bytes(&standard),
        events_bytes(&pushed),
        "both schemes sign the same bytes"
    );
    // A retry keeps the id (receivers dedupe on it) with a fresh timestamp and signature.
    assert_eq!((retry_1.status, retry_1.attempt()), (503, 1));
    assert_eq!((retry_2.status, retry_2.attempt()), (200, 2));
    assert_eq!(retry_1.header("webhook-id"), retry_2.header("webhook-id"));
    let timestamp = |r: &Received| r.header("webhook-timestamp").parse::<u64>().unwrap();
    assert!(timestamp(&retry_2) > timestamp(&retry_1));
    assert_ne!(
        retry_1.header("webhook-signature"),
        retry_2.header("webhook-signature")
    );

    // The library refuses what was altered or is stale: a captured delivery posted again to
    // the receiver, as it came, with its body changed, and re-signed 10 minutes in the past.
    let id = standard.header("webhook-id");
    let replay = |body: &[u8], timestamp: &str, signature: &str| {
        let headers = [
            ("content-type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
        ];
        let record = receiver.post("/replayed", &headers, body.to_vec());
        (record.status, record.standard_webhooks.unwrap())
    };
    let captured = |name| standard.header(name);
    let (body, at, signature) = (
        &standard.body,
        captured("webhook-timestamp"),
        captured("webhook-signature"),
    );
    assert_eq!(replay(body, at, signature), (200, "valid".into()));

    let tampered = String::from_utf8(body.to_vec())
        .unwrap()
        .replace("presence-lobby", "presence-lobbz");
    assert_ne!(tampered.as_bytes(), &body[..]);
    assert_eq!(
        replay(tampered.as_bytes(), at, signature),
        (401, "No matching signature found".into())
    );

    let key = StandardWebhooksKey::parse(WHSEC).unwrap();
    let old = now_s() - 600;
    let stale = key.sign(id, old, body);
    assert_eq!(
        replay(body, &old.to_string(), &stale),
        (401, "Message timestamp too old".into())
    );
    // The same re-signing with the time now passes: the stale one was refused for its age.
    let now = now_s();
    let fresh = key.sign(id, now, body);
    assert_eq!(
        replay(body, &now.to_string(), &fresh),
        (200, "valid".into())
    );

    // The secret shows nowhere: not in /status (which says the scheme), not in the logs.
    let status = gateway.status();
    let webhooks = status["apps"][0]["webhooks"].as_array().unwrap();
    let schemes: Vec<&str> = webhooks
        .iter()
        .map(|w| w["signing"].as_str().unwrap())
        .collect();
    assert_eq!(
        schemes,
        ["pusher", "standard-webhooks", "standard-webhooks"]
    );
    assert!(!status.to_string().contains(WHSEC_PART), "{status}");
    let logs = gateway.logs().join("\n");
    assert!(!logs.contains(WHSEC_PART), "the secret in the logs");
}

#[test]
fn a_bad_secret_is_refused_naming_its_field_and_never_shown() {
    // "hunter2" in base64 (a 7-byte key), and a secret without its whsec_ prefix.
    let bad = |url: &str| {
        format!(
            r#"
[[apps.webhooks]]
url = "{url}"
event_types = ["member_added"]
signing = "standard-webhooks"
secret = "whsec_aHVudGVyMg=="

[[apps.webhooks]]
url = "{url}"
event_types = ["member_added"]
signing = "standard-webhooks"
secret = "hunter2-in-plain-text"
"#
        )
    };
    let assert_refused = |output: &str| {
        for expected in [
            "apps[0].webhooks[0].secret: the key is 7 bytes; the Standard Webhooks spec wants 24 to 64",
            "apps[0].webhooks[1].secret: must start with `whsec_`",
        ] {
            assert!(output.contains(expected), "{expected} not in {output}");
        }
        for secret in ["aHVudGVyMg", "hunter2"] {
            assert!(!output.contains(secret), "the secret shows in {output}");
        }
    };

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, one_app_config("", &bad("http://127.0.0.1:9/h"))).unwrap();
    let (code, output) = run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{output}");
    assert_refused(&output);

    // The same as a reload: refused, and the running config (whose secret is good) goes on.
    let receiver = Sink::start_standard_webhooks(WHSEC);
    let good = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"member_added\"]\nsigning = \"standard-webhooks\"\nsecret = \"{WHSEC}\"\n",
        receiver.url("/hooks")
    );
    let gateway = Gateway::start(&one_app_config("", &good));
    let refused = one_app_config("", &bad(&receiver.url("/bad")));
    write_atomically(
        &gateway.config,
        &with_free_admin_port(&refused, "switchyard.toml"),
    );
    let status = gateway.wait_for_status("the refused reload", |s| s["reload"]["failed"] == 1);
    assert_refused(status["reload"]["last"]["error"].as_str().unwrap());
    assert_refused(&gateway.logs().join("\n"));
    let body = batch(&[json!({"name": "member_added", "channel": "presence-a", "user_id": "1"})]);
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
    let delivery = receiver.expect(1).remove(0);
    assert_eq!(delivery.path, "/hooks");
    assert_eq!(delivery.standard_webhooks.as_deref(), Some("valid"));
}
