//! soketi as the event source, end to end: real pusher-js clients (tests/soketi/driver.js)
//! subscribe, join, leave and send client events through a real soketi 1.6.1, whose one
//! webhook points at the real `switchyard` binary; the gateway routes to HTTP sinks (and, in
//! `lambda`, to the Lambda emulator). Every test checks each webhook got exactly its events,
//! signed so that both a JS receiver and Pusher's Node SDK accept them.

mod harness;
mod import;
mod lambda;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Gateway, KEY, PATIENCE, Received, SECRET, Sink, one_app_config};
use harness::{AppCreds, Driver, Soketi};

/// The test app of every gateway config ([`one_app_config`]), as soketi must know it too.
const APP: AppCreds = AppCreds {
    id: "app-1",
    key: KEY,
    secret: SECRET,
};

/// Every event type soketi 1.6.1 sends.
const SOKETI_EVENT_TYPES: [&str; 6] = [
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
];

/// soketi's apps option: `APP`, client events on, one webhook to `url` with every event type.
fn soketi_app(webhooks: Value) -> Value {
    json!({
        "appManager.array.apps": [{
            "id": APP.id, "key": APP.key, "secret": APP.secret,
            "enableClientMessages": true,
            "webhooks": webhooks,
        }]
    })
}

fn to_gateway(gateway: &Gateway) -> Value {
    json!([{ "url": gateway.url("/ingest/pusher"), "event_types": SOKETI_EVENT_TYPES }])
}

/// The gateway's webhooks, one per sink path, each with its own choice of events.
fn gateway_config(sink: &Sink) -> String {
    let webhooks = format!(
        r#"
[[apps.webhooks]]
url = "{occupancy}"
event_types = ["channel_occupied", "channel_vacated"]

[[apps.webhooks]]
url = "{presence}"
event_types = ["member_added", "member_removed"]
filter = {{ channel_name_starts_with = "presence-" }}

[[apps.webhooks]]
url = "{client}"
event_types = ["client_event"]
headers = {{ "X-Tenant" = "acme" }}
filter = {{ channel_name_starts_with = "private-", channel_name_ends_with = "-room" }}

[[apps.webhooks]]
url = "{cache}"
event_types = ["cache_miss", "channel_occupied"]
filter = {{ channel_name_starts_with = "cache-" }}

[[apps.webhooks]]
url = "{lobby}"
event_types = ["channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss", "subscription_count"]
filter = {{ channel_name_ends_with = "-lobby" }}
"#,
        occupancy = sink.url("/occupancy"),
        presence = sink.url("/presence"),
        client = sink.url("/client"),
        cache = sink.url("/cache"),
        lobby = sink.url("/lobby"),
    );
    one_app_config("", &webhooks)
}

/// One delivered event as the tests compare them: (webhook path, name, channel, detail),
/// where detail is the user id or the client event's name.
type Seen = (String, String, String, String);

fn seen(path: &str, name: &str, channel: &str, detail: &str) -> Seen {
    (path.into(), name.into(), channel.into(), detail.into())
}

/// What clients do in every scenario here: public, cache, private and presence channels,
/// client events on a private and a presence channel, a leave and two disconnects.
fn run_clients(driver: &mut Driver) {
    driver.connect("alice", "alice");
    driver.connect("bob", "bob");
    driver.subscribe("alice", "news");
    driver.subscribe("alice", "cache-ticker");
    driver.subscribe("alice", "private-chat-room");
    driver.subscribe("bob", "private-chat-room");
    let text = json!({ "text": "héllo ☃ 𝄞", "n": 1e21 });
    driver.client_event("alice", "bob", "private-chat-room", "client-typing", text);
    driver.subscribe("alice", "presence-lobby");
    driver.subscribe("bob", "presence-lobby");
    driver.client_event("bob", "alice", "presence-lobby", "client-wave", json!({}));
    driver.unsubscribe("bob", "presence-lobby");
    driver.disconnect("alice");
    driver.disconnect("bob");
}

/// What each webhook of [`gateway_config`] must get for [`run_clients`].
fn expected_deliveries() -> Vec<Seen> {
    let mut expected = Vec::new();
    for channel in [
        "news",
        "cache-ticker",
        "private-chat-room",
        "presence-lobby",
    ] {
        expected.push(seen("/occupancy", "channel_occupied", channel, ""));
        expected.push(seen("/occupancy", "channel_vacated", channel, ""));
    }
    for user in ["alice", "bob"] {
        expected.push(seen("/presence", "member_added", "presence-lobby", user));
        expected.push(seen("/presence", "member_removed", "presence-lobby", user));
        expected.push(seen("/lobby", "member_added", "presence-lobby", user));
        expected.push(seen("/lobby", "member_removed", "presence-lobby", user));
    }
    expected.extend([
        seen(
            "/client",
            "client_event",
            "private-chat-room",
            "client-typing",
        ),
        seen("/cache", "channel_occupied", "cache-ticker", ""),
        seen("/cache", "cache_miss", "cache-ticker", ""),
        seen("/lobby", "channel_occupied", "presence-lobby", ""),
        seen("/lobby", "channel_vacated", "presence-lobby", ""),
        seen("/lobby", "client_event", "presence-lobby", "client-wave"),
    ]);
    expected
}

/// The events of one delivery.
fn events_of(delivery: &Received) -> Vec<Seen> {
    let body = delivery.json();
    body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {body}"))
        .iter()
        .map(|e| {
            // A client event by its name (on presence channels it has a user_id too).
            let detail = e["event"]
                .as_str()
                .or(e["user_id"].as_str())
                .unwrap_or_default();
            let (name, channel) = (e["name"].as_str().unwrap(), e["channel"].as_str().unwrap());
            seen(&delivery.path, name, channel, detail)
        })
        .collect()
}

/// Collects deliveries until every expected event arrived, then for a quiet while more (so
/// extra or duplicate events show), and checks the events match exactly, path by path.
fn collect(sink: &Sink, expected: &[Seen]) -> Vec<Received> {
    let mut want = expected.to_vec();
    want.sort();
    let mut deliveries = Vec::new();
    let mut got: Vec<Seen> = Vec::new();
    // soketi, the gateway and Node clients share two cores with other tests: be patient.
    let deadline = Instant::now() + 2 * PATIENCE;
    while !contains_all(&got, &want) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(delivery) = sink.next_within(left) else {
            got.sort();
            panic!("timed out; missing {:?}\ngot {got:?}", missing(&got, &want));
        };
        got.extend(events_of(&delivery));
        deliveries.push(delivery);
    }
    while let Some(delivery) = sink.next_within(Duration::from_millis(1500)) {
        got.extend(events_of(&delivery));
        deliveries.push(delivery);
    }
    got.sort();
    assert_eq!(got, want, "each webhook must get exactly its events");
    deliveries
}

fn contains_all(got: &[Seen], want: &[Seen]) -> bool {
    missing(got, want).is_empty()
}

/// The events of `want` not (or not as often) in `got`.
fn missing(got: &[Seen], want: &[Seen]) -> Vec<Seen> {
    let mut left = got.to_vec();
    let mut missing = Vec::new();
    for w in want {
        match left.iter().position(|g| g == w) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => missing.push(w.clone()),
        }
    }
    missing
}

/// What every delivery must carry: a signature a JS receiver and Pusher's SDK accept.
fn assert_signed(deliveries: &[Received], key: &str) {
    for d in deliveries {
        let body = String::from_utf8_lossy(&d.body);
        assert_eq!(
            d.js_signature_ok,
            Some(true),
            "JS check failed on {}: {body}",
            d.path
        );
        assert_eq!(
            d.pusher_sdk_valid,
            Some(true),
            "Pusher SDK refused {}: {body}",
            d.path
        );
        assert_eq!(d.header("x-pusher-key"), key);
        assert!(
            d.header("user-agent").starts_with("Switchyard/"),
            "{:?}",
            d.headers
        );
        if d.path == "/client" {
            assert_eq!(d.header("x-tenant"), "acme");
        }
    }
}

#[test]
fn soketi_events_reach_each_webhook_with_only_its_events_and_valid_signatures() {
    let sink = Sink::start(APP.secret, APP.key);
    let gateway = Gateway::start(&gateway_config(&sink));
    let soketi = Soketi::start(&soketi_app(to_gateway(&gateway)));
    let mut driver = Driver::start(&soketi, APP);

    run_clients(&mut driver);

    let deliveries = collect(&sink, &expected_deliveries());
    assert_signed(&deliveries, APP.key);
    let client = deliveries.iter().find(|d| d.path == "/client").unwrap();
    let body = String::from_utf8(client.body.clone()).unwrap();
    // soketi passes pusher-js's data object through; the gateway writes it as JS would.
    assert!(
        body.contains(r#""data":{"text":"héllo ☃ 𝄞","n":1e+21}"#),
        "{body}"
    );
    let event = &client.json()["events"][0];
    assert!(event["socket_id"].is_string(), "{event}");
    let wave = deliveries
        .iter()
        .flat_map(|d| d.json()["events"].as_array().unwrap().clone())
        .find(|e| e["event"] == "client-wave")
        .unwrap();
    assert_eq!(
        wave["user_id"], "bob",
        "presence client events carry the user"
    );
}

#[test]
fn soketi_batches_mixing_event_types_are_split_per_webhook() {
    let sink = Sink::start(APP.secret, APP.key);
    // A tap on soketi's own webhook shows what soketi sent the gateway.
    let tap = Sink::start(APP.secret, APP.key);
    let gateway = Gateway::start(&gateway_config(&sink));
    let mut webhooks = to_gateway(&gateway);
    webhooks.as_array_mut().unwrap().push(json!({
        "url": tap.url("/tap"), "event_types": SOKETI_EVENT_TYPES
    }));
    let mut options = soketi_app(webhooks);
    options["webhooks.batching.enabled"] = json!(true);
    options["webhooks.batching.duration"] = json!(400);
    let soketi = Soketi::start(&options);
    let mut driver = Driver::start(&soketi, APP);

    run_clients(&mut driver);

    let deliveries = collect(&sink, &expected_deliveries());
    assert_signed(&deliveries, APP.key);
    // soketi's batches: every event once, some batches mixing event types.
    let mut batches = Vec::new();
    let mut total = 0;
    let deadline = Instant::now() + PATIENCE;
    while total < 15 && Instant::now() < deadline {
        if let Some(batch) = tap.next_within(Duration::from_millis(200)) {
            total += batch.json()["events"].as_array().unwrap().len();
            batches.push(batch);
        }
    }
    assert_eq!(total, 15, "soketi reports 15 events for the scenario");
    let mixed = batches.iter().filter(|b| {
        let names: std::collections::HashSet<String> = events_of(b)
            .into_iter()
            .map(|(_, name, _, _)| name)
            .collect();
        names.len() > 1
    });
    assert!(
        mixed.count() > 0,
        "no soketi batch mixed event types: {:?}",
        batches
            .iter()
            .map(|b| String::from_utf8_lossy(&b.body).into_owned())
            .collect::<Vec<_>>()
    );
    assert!(
        batches.len() < 15,
        "soketi batched: {} batches",
        batches.len()
    );
}
