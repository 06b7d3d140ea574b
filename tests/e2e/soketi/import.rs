//! soketi moved onto the gateway by `switchyard import soketi`: the imported config serves the
//! same webhooks soketi had, and soketi, with the printed snippet put into its config, sends
//! everything through the gateway. Proves both halves of the migration work as written.

use std::process::Command;

use serde_json::{Value, json};

use super::harness::{Driver, Soketi};
use super::{APP, assert_signed, collect, expected_deliveries, run_clients};
use crate::support::free_port;
use crate::support::{Gateway, Sink, binary};

/// soketi's own webhooks: what `gateway_config` in the parent module says, in soketi's form.
fn soketi_webhooks(sink: &Sink) -> Value {
    json!([
        { "url": sink.url("/occupancy"), "event_types": ["channel_occupied", "channel_vacated"] },
        { "url": sink.url("/presence"), "event_types": ["member_added", "member_removed"],
          "filter": { "channel_name_starts_with": "presence-" } },
        { "url": sink.url("/client"), "event_types": ["client_event"],
          "headers": { "X-Tenant": "acme" },
          "filter": { "channel_name_starts_with": "private-", "channel_name_ends_with": "-room" } },
        { "url": sink.url("/cache"), "event_types": ["cache_miss", "channel_occupied"],
          "filter": { "channel_name_starts_with": "cache-" } },
        { "url": sink.url("/lobby"),
          "event_types": ["channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss"],
          "filter": { "channel_name_ends_with": "-lobby" } }
    ])
}

#[test]
fn soketi_set_up_by_switchyard_import_delivers_what_its_webhooks_said() {
    let sink = Sink::start(APP.secret, APP.key);
    let source = json!({
        "webhooks.batching.enabled": true,
        "webhooks.batching.duration": 100,
        "appManager.array.apps": [{
            "id": APP.id, "key": APP.key, "secret": APP.secret,
            "enableClientMessages": true,
            "webhooks": soketi_webhooks(&sink),
        }]
    });
    let dir = tempfile::tempdir().unwrap();
    let source_path = dir.path().join("soketi.json");
    std::fs::write(&source_path, source.to_string()).unwrap();
    let out = dir.path().join("switchyard.toml");
    let port = free_port();
    let result = Command::new(binary())
        .args(["import", "soketi"])
        .arg(&source_path)
        .arg("--out")
        .arg(&out)
        .args(["--gateway-url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{report}");
    assert!(
        report.contains("imported 1 app(s) with 5 webhook(s)"),
        "{report}"
    );
    assert!(report.contains("0 warning(s)"), "{report}");

    let config = std::fs::read_to_string(&out).unwrap();
    assert!(
        config.contains("batching = { window_ms = 100 }"),
        "{config}"
    );
    let snippet: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("switchyard.soketi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        snippet["webhooks.batching.enabled"], false,
        "the gateway batches now"
    );
    let webhooks = &snippet["appManager.array.apps"][0]["webhooks"];
    assert_eq!(webhooks.as_array().unwrap().len(), 1, "{snippet:#}");
    assert_eq!(
        webhooks[0]["url"],
        format!("http://127.0.0.1:{port}/ingest/pusher")
    );

    let gateway = Gateway::start_with(&config, "switchyard.toml", &[]);
    assert_eq!(gateway.addr.port(), port);
    // soketi's file with the snippet put in: later keys win, as soketi applies them in order.
    let mut options = source.clone();
    for (key, value) in snippet.as_object().unwrap() {
        options[key] = value.clone();
    }
    let soketi = Soketi::start(&options);
    let mut driver = Driver::start(&soketi, APP);

    run_clients(&mut driver);

    let deliveries = collect(&sink, &expected_deliveries());
    assert_signed(&deliveries, APP.key);
}
