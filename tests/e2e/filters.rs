//! WASM filters deciding live traffic: the real binary, example filters built for
//! wasm32-wasip2, Node.js sinks. One module serves several webhooks (the channel router, as an
//! app-wide filter), webhook filters keep, drop and replace, and hostile modules are contained.

use serde_json::{Value, json};

use crate::guests::wasm;
use crate::support::{Gateway, KEY, Received, SECRET, Sink, batch, post_signed};

fn config(sink: &Sink) -> String {
    let module = |name: &str| wasm(name).display().to_string();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[delivery]
lanes = 1   # a batch's events for a webhook arrive as one delivery

[filters]
call_timeout_ms = 300   # generous: the test machine is shared; the loop must still be cut

[[apps]]
id = "app-1"
key = "{KEY}"
secret = "{SECRET}"
filters = [
  {{ name = "router", module = "{router}", params = {{ routes = [
      {{ webhook = "billing", channels = ["private-billing-*"] }},
      {{ webhook = "audit", channels = ["*"] }},
      {{ webhook = "hostile-*", channels = ["*"] }},
  ], otherwise = "drop" }} }},
]

[[apps.webhooks]]
id = "billing"
url = "{billing}"
event_types = ["client_event", "channel_occupied"]
filters = [{{ name = "redact", module = "{redact}", params = {{ fields = ["card"] }} }}]

[[apps.webhooks]]
id = "audit"
url = "{audit}"
event_types = ["client_event", "channel_occupied", "member_added"]
filters = [{{ name = "vip-only", module = "{presence}", params = {{ users = ["7"] }} }}]

[[apps.webhooks]]
id = "hostile-pass"
url = "{hostile_pass}"
event_types = ["client_event"]
filters = [{{ name = "spinner", module = "{hostile}", params = {{ misbehave = "loop" }}, on_error = "pass" }}]

[[apps.webhooks]]
id = "hostile-dead-letter"
url = "{hostile_dead_letter}"
event_types = ["client_event"]
filters = [{{ name = "panicker", module = "{hostile}", params = {{ misbehave = "panic" }} }}]

[[apps.webhooks]]
id = "unrouted"
url = "{unrouted}"
event_types = ["client_event", "channel_occupied", "member_added"]
"#,
        router = module("filter-channel-router"),
        redact = module("filter-redact"),
        presence = module("filter-presence-allowlist"),
        hostile = module("filter-hostile-misbehave"),
        billing = sink.url("/billing"),
        audit = sink.url("/audit"),
        hostile_pass = sink.url("/hostile-pass"),
        hostile_dead_letter = sink.url("/hostile-dead-letter"),
        unrouted = sink.url("/unrouted"),
    )
}

fn by_path<'a>(got: &'a [Received], path: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| r.path == path).collect()
}

fn events(received: &Received) -> Vec<Value> {
    received.json()["events"].as_array().unwrap().clone()
}

#[test]
fn filters_decide_which_webhook_gets_which_events_and_hostile_ones_are_contained() {
    let sink = Sink::start(SECRET, KEY);
    let gateway = Gateway::start(&config(&sink));
    let traffic = [
        json!({"name": "client_event", "channel": "private-billing-42", "event": "client-pay",
               "data": "{\"card\":\"4111 1111 1111 1111\",\"amount\":5}", "user_id": "7"}),
        json!({"name": "channel_occupied", "channel": "presence-lobby"}),
        json!({"name": "member_added", "channel": "presence-lobby", "user_id": "7"}),
        json!({"name": "member_added", "channel": "presence-lobby", "user_id": "8"}),
    ];
    assert_eq!(post_signed(&gateway, KEY, SECRET, &batch(&traffic)).0, 200);
    let got = sink.expect(4);
    sink.assert_nothing_more(&gateway);

    // Billing: only its channels (router), with the card redacted (replace).
    let billing = by_path(&got, "/billing");
    assert_eq!(billing.len(), 1);
    let billing_events = events(billing[0]);
    assert_eq!(billing_events.len(), 1);
    assert_eq!(billing_events[0]["channel"], "private-billing-42");
    let data: Value = serde_json::from_str(billing_events[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({"card": "[redacted]", "amount": 5}));
    assert_eq!(
        billing[0].js_signature_ok,
        Some(true),
        "signed over the replaced event"
    );

    // Audit: every channel, but member events only for user 7 (drop).
    let audit = events(by_path(&got, "/audit")[0]);
    let names: Vec<(&str, Option<&str>)> = audit
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["user_id"].as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("client_event", Some("7")),
            ("channel_occupied", None),
            ("member_added", Some("7"))
        ]
    );
    assert!(
        audit[0]["data"].as_str().unwrap().contains("4111"),
        "audit's copy is not redacted"
    );

    // Hostile filters keep ordinary events; the router gives the unrouted webhook nothing.
    assert_eq!(by_path(&got, "/hostile-pass").len(), 1);
    assert_eq!(by_path(&got, "/hostile-dead-letter").len(), 1);
    assert!(by_path(&got, "/unrouted").is_empty());

    // A batch that makes the hostile modules misbehave: the spinner is cut off at its
    // deadline and passes the batch on; the panicker's batch is dead-lettered; audit is
    // served as usual.
    let trigger = [
        json!({"name": "client_event", "channel": "misbehave", "event": "client-x", "data": "{}"}),
    ];
    assert_eq!(post_signed(&gateway, KEY, SECRET, &batch(&trigger)).0, 200);
    let got = sink.expect(2);
    sink.assert_nothing_more(&gateway);
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/audit", "/hostile-pass"]);
    gateway.wait_for_log(&["filter failed", "spinner", "timed out"]);
    gateway.wait_for_log(&["filter failed", "panicker"]);
    gateway.wait_for_log(&["dead-lettered", "hostile-dead-letter", "misbehave"]);
    // ... into the dead-letter store, with the event as it reached the failing filter.
    let (code, listed) = gateway.dlq(&["list", "--json", "--reason", "filter_failed"]);
    assert_eq!(code, 0, "{listed}");
    let letter: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(letter["webhook"], "hostile-dead-letter");
    let (_, shown) = gateway.dlq(&["show", &letter["id"].to_string()]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["events"][0]["channel"], "misbehave");

    // The process and every filter carry on.
    assert_eq!(
        post_signed(&gateway, KEY, SECRET, &batch(&traffic[..1])).0,
        200
    );
    let mut paths: Vec<String> = sink.expect(4).into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/audit",
            "/billing",
            "/hostile-dead-letter",
            "/hostile-pass"
        ]
    );
    assert_eq!(
        gateway.metric_sum("switchyard_filter_failures_total", &[]),
        2.0
    );
    assert_eq!(
        gateway.metric_sum("switchyard_filter_dead_letters_total", &[]),
        1.0
    );
}

#[test]
fn check_reports_filters_that_cannot_load_with_their_name_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[[apps]]
id = "app-1"
key = "k"
secret = "s"
filters = [{{ name = "ghost", module = "missing.wasm" }}]

[[apps.webhooks]]
url = "http://127.0.0.1:9/x"
event_types = ["client_event"]
filters = [
  {{ name = "stranger", module = "{wrong_world}" }},
  {{ name = "grumpy", module = "{hostile}", params = {{ misbehave = "refuse_init" }} }},
  {{ name = "typo", module = "{hostile}", on_error = "ignore" }},
]
"#,
        wrong_world = wasm("filter-hostile-wrong-world").display(),
        hostile = wasm("filter-hostile-misbehave").display(),
    );
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    let (code, out) = crate::support::run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("apps[0].webhooks[0].filters[2].on_error: unknown on_error `ignore`"),
        "{out}"
    );

    // With the on_error typo fixed, the filters themselves are loaded and refused.
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace(", on_error = \"ignore\"", "");
    std::fs::write(&path, fixed).unwrap();
    let (code, out) = crate::support::run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    for expected in [
        "apps[0].filters[0]: filter `ghost`",
        "apps[0].webhooks[0].filters[0]: filter `stranger`",
        "apps[0].webhooks[0].filters[1]: filter `grumpy`",
        "hostile filter refuses to start",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
}
