//! soketi → gateway → Lambda: a real soketi's webhooks, routed by the gateway to the example
//! Node.js handler running under serverless-offline; the handler's own signature check must
//! pass on every invocation.

use std::time::{Duration, Instant};

use super::harness::{Driver, Soketi};
use super::{APP, soketi_app, to_gateway};
use crate::lambda::HERMETIC;
use crate::lambda::emulator::{Emulator, WEBHOOKS_FN};
use crate::support::{Gateway, PATIENCE, one_app_config};

#[test]
fn soketi_events_reach_a_lambda_handler_whose_own_signature_check_passes() {
    let emulator = Emulator::start(APP.secret);
    let webhook = format!(
        r#"
[[apps.webhooks]]
lambda_function = "{WEBHOOKS_FN}"
event_types = ["member_added", "member_removed", "client_event"]
filter = {{ channel_name_starts_with = "presence-" }}
lambda = {{ client_options = {{ region = "us-east-1", endpoint = "{endpoint}", credentials = {{ accessKeyId = "AKIDEXAMPLE", secretAccessKey = "test-secret-key" }} }} }}
"#,
        endpoint = emulator.endpoint(),
    );
    let config = one_app_config("", &webhook);
    let gateway = Gateway::start_with(&config, "switchyard.toml", &HERMETIC);
    let soketi = Soketi::start(&soketi_app(to_gateway(&gateway)));
    let mut driver = Driver::start(&soketi, APP);

    driver.connect("alice", "alice");
    driver.connect("bob", "bob");
    driver.subscribe("alice", "news");
    driver.subscribe("alice", "presence-lobby");
    driver.subscribe("bob", "presence-lobby");
    driver.client_event(
        "bob",
        "alice",
        "presence-lobby",
        "client-wave",
        serde_json::json!({ "hi": 1 }),
    );
    driver.disconnect("bob");
    driver.disconnect("alice");

    let expected = [
        "user alice joined presence-lobby",
        "user bob joined presence-lobby",
        "user bob left presence-lobby",
        "user alice left presence-lobby",
    ];
    let deadline = Instant::now() + 2 * PATIENCE;
    let records = loop {
        let records: Vec<_> = emulator
            .records()
            .into_iter()
            .filter(|r| r.function() == WEBHOOKS_FN)
            .collect();
        let handled: Vec<String> = records.iter().flat_map(|r| r.handled()).collect();
        let wave = handled
            .iter()
            .any(|h| h.starts_with("client event client-wave on presence-lobby"));
        if wave && expected.iter().all(|e| handled.iter().any(|h| h == e)) {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "handler got {handled:?}; emulator output:\n{}\nsoketi:\n{}",
            emulator.output().join("\n"),
            soketi.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // No more than those five events (nothing from `news`, no occupancy events): once the
    // gateway has taken all nine of soketi's events (both channels occupied and vacated, two
    // joins, the wave, two leaves) and delivered what it routed.
    let received = r#"switchyard_ingest_events_total{app="app-1",outcome="accepted"}"#;
    gateway.wait_for_metric(received, 9.0);
    gateway.wait_until_delivered();
    let handled: Vec<String> = emulator
        .records()
        .iter()
        .flat_map(|r| r.handled())
        .collect();
    assert_eq!(handled.len(), 5, "{handled:?}");
    for record in &records {
        assert_eq!(
            record.signature_ok(),
            Some(true),
            "the handler's own check failed: {record:?}"
        );
        assert_eq!(record.header("X-Pusher-Key"), Some(APP.key));
    }
}
