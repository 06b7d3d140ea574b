//! JavaScript filters deciding live traffic: the real binary, the JS and TypeScript examples
//! built from source with componentize-js, Node.js sinks. A JS router serves several
//! webhooks, a TypeScript filter replaces events, hostile JS (a loop, a throw, a memory bomb)
//! is contained while the other webhooks carry on, and a JS filter swapped for a new version
//! under load loses nothing while the new version compiles.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::guests::{js_wasm, shared_cache_dir};
use crate::support::{
    Gateway, KEY, Received, SECRET, Sink, batch, one_app_config, post_signed, reload_soak, run_cli,
    with_free_admin_port,
};

fn config(sink: &Sink) -> String {
    let module = |name: &str| js_wasm(name, &[]).display().to_string();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[delivery]
lanes = 1   # a batch's events for a webhook arrive as one delivery

[filters]
call_timeout_ms = 500   # generous: the test machine is shared; the loop must still be cut
cache_dir = "{cache}"

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

[[apps.webhooks]]
id = "hostile-loop"
url = "{hostile_loop}"
event_types = ["client_event"]
filters = [{{ name = "spinner", module = "{hostile}", params = {{ misbehave = "loop" }}, on_error = "pass" }}]

[[apps.webhooks]]
id = "hostile-throw"
url = "{hostile_throw}"
event_types = ["client_event"]
filters = [{{ name = "thrower", module = "{hostile}", params = {{ misbehave = "throw" }} }}]

[[apps.webhooks]]
id = "hostile-memory"
url = "{hostile_memory}"
event_types = ["client_event"]
filters = [{{ name = "hoarder", module = "{hostile}", params = {{ misbehave = "memory" }}, on_error = "drop", memory_limit_mib = 48 }}]

[[apps.webhooks]]
id = "unrouted"
url = "{unrouted}"
event_types = ["client_event", "channel_occupied", "member_added"]
"#,
        cache = shared_cache_dir().display(),
        router = module("channel-router-js"),
        redact = module("redact-ts"),
        hostile = module("hostile-js"),
        billing = sink.url("/billing"),
        audit = sink.url("/audit"),
        hostile_loop = sink.url("/hostile-loop"),
        hostile_throw = sink.url("/hostile-throw"),
        hostile_memory = sink.url("/hostile-memory"),
        unrouted = sink.url("/unrouted"),
    )
}

fn paths(got: &[Received]) -> Vec<&str> {
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    paths
}

fn events_at(got: &[Received], path: &str) -> Vec<Value> {
    let delivery = got.iter().find(|r| r.path == path).unwrap();
    delivery.json()["events"].as_array().unwrap().clone()
}

/// `switchyard check` on `config`: it compiles every filter (into the cache the gateway then
/// starts from) and reports, for each, where its module came from and how long that took.
fn check_reports_each_filter(config: &Path, names: &[&str]) {
    let (code, out) = run_cli(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    for name in names {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("filter `{name}`")));
        let line = line.unwrap_or_else(|| panic!("no line for {name} in:\n{out}"));
        let module = ["compiled in", "read from the cache in", "compiled already"];
        assert!(module.iter().any(|m| line.contains(m)), "{line}");
        assert!(line.contains("instance memory"), "{line}");
    }
}

#[test]
fn js_filters_route_live_traffic_and_hostile_js_is_contained() {
    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(
        &path,
        with_free_admin_port(&config(&sink), "switchyard.toml"),
    )
    .unwrap();
    check_reports_each_filter(
        &path,
        &["router", "redact", "spinner", "thrower", "hoarder"],
    );
    let gateway = Gateway::start_at(&path, dir, &[]);

    let traffic = [
        json!({"name": "client_event", "channel": "private-billing-42", "event": "client-pay",
               "data": "{\"card\":\"4111 1111 1111 1111\",\"amount\":5}", "user_id": "7"}),
        json!({"name": "channel_occupied", "channel": "présence-salle-€"}),
        json!({"name": "member_added", "channel": "présence-salle-€", "user_id": "8"}),
    ];
    let all_five = [
        "/audit",
        "/billing",
        "/hostile-loop",
        "/hostile-memory",
        "/hostile-throw",
    ];
    assert_eq!(post_signed(&gateway, KEY, SECRET, &batch(&traffic)).0, 200);
    let got = sink.expect(5);
    sink.assert_nothing_more(&gateway);
    assert_eq!(paths(&got), all_five, "the router gives unrouted nothing");

    // Billing: only its channels, with the card redacted by the TypeScript filter.
    let billing = events_at(&got, "/billing");
    assert_eq!(billing.len(), 1);
    let data: Value = serde_json::from_str(billing[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({"card": "[redacted]", "amount": 5}));
    let signed = got.iter().find(|r| r.path == "/billing").unwrap();
    assert_eq!(
        signed.js_signature_ok,
        Some(true),
        "signed over the replaced event"
    );
    // Audit: every channel, non-ASCII ones too, unredacted.
    let audit = events_at(&got, "/audit");
    let channels: Vec<&str> = audit
        .iter()
        .map(|e| e["channel"].as_str().unwrap())
        .collect();
    assert_eq!(
        channels,
        ["private-billing-42", "présence-salle-€", "présence-salle-€"]
    );
    assert!(audit[0]["data"].as_str().unwrap().contains("4111"));

    // The hostile filters misbehave: the loop is cut at its deadline and passes the batch on,
    // the throw dead-letters it, the memory bomb hits its 48 MiB and drops it; audit is
    // served as usual.
    let trigger = [json!({"name": "client_event", "channel": "misbehave", "event": "client-x"})];
    assert_eq!(post_signed(&gateway, KEY, SECRET, &batch(&trigger)).0, 200);
    let got = sink.expect(2);
    sink.assert_nothing_more(&gateway);
    assert_eq!(paths(&got), ["/audit", "/hostile-loop"]);
    gateway.wait_for_log(&["filter failed", "spinner", "timed out"]);
    gateway.wait_for_log(&[
        "filter failed",
        "thrower",
        "hostile filter throws on purpose",
    ]);
    gateway.wait_for_log(&[
        "filter failed",
        "hoarder",
        "exceeded its memory limit of 50331648",
    ]);
    let (code, listed) = gateway.dlq(&["list", "--json", "--reason", "filter_failed"]);
    assert_eq!(code, 0, "{listed}");
    let letter: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(letter["webhook"], "hostile-throw");

    // The process and every filter carry on, each hostile one on a fresh instance.
    assert_eq!(post_signed(&gateway, KEY, SECRET, &batch(&traffic)).0, 200);
    assert_eq!(paths(&sink.expect(5)), all_five);
    sink.assert_nothing_more(&gateway);
    assert_eq!(
        gateway.metric_sum("switchyard_filter_failures_total", &[]),
        3.0
    );
    assert_eq!(
        gateway.metric_sum("switchyard_filter_dead_letters_total", &[]),
        1.0
    );
}

#[test]
fn a_js_filter_swapped_under_load_loses_nothing_while_the_new_version_compiles() {
    let versions = [
        js_wasm("stamp-js", &[("STAMP", "v1")]),
        js_wasm("stamp-js", &[("STAMP", "v2")]),
    ];
    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("stamp.wasm");
    std::fs::copy(&versions[0], &module).unwrap();
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"channel_occupied\"]\nfilters = [{{ module = \"stamp.wasm\" }}]",
        sink.url("/hook")
    );
    // A cache of its own, empty: v2 is compiled while the load runs (seconds, both cores).
    let server = "\n[filters]\ncache_dir = \"cache\"\ncall_timeout_ms = 2000";
    let config = with_free_admin_port(&one_app_config(server, &webhook), "switchyard.toml");
    std::fs::write(dir.path().join("switchyard.toml"), config).unwrap();
    let gateway = Arc::new(Gateway::start_at(
        &dir.path().join("switchyard.toml"),
        dir,
        &[],
    ));
    // v2 (compiled), v1 (from the cache), v2 (from the cache).
    let patience = Duration::from_secs(180);
    let report = reload_soak(&gateway, &sink, &module, &versions, 3, patience);
    assert_eq!(
        report.delivered, report.sent,
        "every event delivered: {report:?}"
    );
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert!(
        report.stale.is_empty(),
        "events decided by a stale version: {report:?}"
    );
    assert!(
        report.checked > 0,
        "the load produced events after each swap: {report:?}"
    );
    assert!(
        report.acked_while_swapping[0] > 0,
        "ingest went on while v2 compiled: {report:?}"
    );
}
