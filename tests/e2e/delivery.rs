//! Routing and delivery over HTTP: each webhook gets only its events, signed over the exact
//! bytes, in a form JavaScript receivers and Pusher's SDKs accept.

use serde_json::json;

use crate::support::{
    Gateway, KEY, Received, SECRET, Sink, batch, one_app_config, post_signed,
    python_pusher_validate,
};

#[test]
fn each_webhook_gets_only_its_events_signed_over_the_exact_bytes() {
    let sink = Sink::start(SECRET, KEY);
    let config = one_app_config(
        "",
        &format!(
            r#"
[[apps.webhooks]]
url = "{rooms}"
event_types = ["channel_occupied", "channel_vacated"]

[[apps.webhooks]]
url = "{members}"
event_types = ["member_added", "member_removed"]
filter = {{ channel_name_starts_with = "presence-", channel_name_ends_with = "-room" }}

[[apps.webhooks]]
url = "{clients}"
event_types = ["client_event"]
headers = {{ "X-Tenant" = "acme", "User-Agent" = "custom-agent" }}
"#,
            rooms = sink.url("/rooms"),
            members = sink.url("/members"),
            clients = sink.url("/clients"),
        ),
    );
    let gateway = Gateway::start(&config);
    let events = [
        json!({"name": "channel_occupied", "channel": "presence-lobby-room"}),
        json!({"name": "member_added", "channel": "presence-lobby-room", "user_id": "7"}),
        json!({"name": "member_added", "channel": "presence-lobby", "user_id": "8"}),
        json!({"name": "member_added", "channel": "private-x-room", "user_id": "9"}),
        json!({"name": "client_event", "channel": "private-chat", "event": "client-typing",
               "data": "{\"text\":\"héllo ☃ 𝄞\",\"n\":1e21}", "socket_id": "1.2", "user_id": "7",
               "future_field": {"2": "b", "1": "a", "z": [1.0, 0.1, 100000000000000000000.0]}}),
        json!({"name": "channel_vacated", "channel": "presence-lobby-room"}),
        json!({"name": "subscription_count", "channel": "presence-lobby-room", "subscription_count": 3}),
    ];
    let (status, answer) = post_signed(&gateway, KEY, SECRET, &batch(&events));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"accepted\":7"), "{answer}");

    let mut got = sink.expect(3);
    sink.assert_nothing_more(&gateway);
    got.sort_by(|a, b| a.path.cmp(&b.path));
    let [clients, members, rooms] = got.try_into().unwrap();

    assert_eq!(rooms.path, "/rooms");
    assert_eq!(
        rooms.event_names(),
        [
            ("channel_occupied".into(), "presence-lobby-room".into()),
            ("channel_vacated".into(), "presence-lobby-room".into())
        ]
    );
    assert_eq!(
        members.event_names(),
        [(
            "member_added".to_string(),
            "presence-lobby-room".to_string()
        )]
    );
    assert_eq!(
        clients.event_names(),
        [("client_event".to_string(), "private-chat".to_string())]
    );

    // Unknown fields arrive as they came; numbers and key order as JavaScript would write them.
    let client_event = &clients.json()["events"][0];
    assert_eq!(client_event["socket_id"], "1.2");
    let body = String::from_utf8(clients.body.clone()).unwrap();
    assert!(
        body.contains(r#""future_field":{"1":"a","2":"b","z":[1,0.1,100000000000000000000]}"#),
        "{body}"
    );

    for delivery in [&rooms, &members, &clients] {
        assert!(switchyard::signature::verify(
            SECRET,
            &delivery.body,
            delivery.header("x-pusher-signature")
        ));
        assert_eq!(
            delivery.js_signature_ok,
            Some(true),
            "JS receiver's check failed for {}",
            delivery.path
        );
        assert_eq!(
            delivery.pusher_sdk_valid,
            Some(true),
            "Pusher Node SDK refused {}",
            delivery.path
        );
        assert_eq!(delivery.header("x-pusher-key"), KEY);
        assert_eq!(delivery.header("content-type"), "application/json");
        assert_eq!(delivery.header("accept"), "application/json");
        // Node joins repeated headers with ", ": a signature must appear exactly once.
        assert!(!delivery.header("x-pusher-signature").contains(','));
        let time_ms = delivery.json()["time_ms"].as_u64().unwrap();
        assert!(time_ms.abs_diff(switchyard::clock::now_ms()) < 60_000);
    }
    assert!(rooms.header("user-agent").starts_with("Switchyard/"));
    assert_eq!(clients.header("x-tenant"), "acme");
    assert_eq!(
        clients.header("user-agent"),
        "custom-agent",
        "a custom header replaces the default, once"
    );

    let verdicts = python_pusher_validate(KEY, SECRET, &[rooms, members, clients]);
    assert_eq!(verdicts, ["valid", "valid", "valid"], "Pusher's Python SDK");
}

#[test]
fn a_failing_endpoint_is_logged_and_does_not_stop_other_webhooks() {
    let sink = Sink::start(SECRET, KEY);
    let config = one_app_config(
        "",
        &format!(
            r#"
[[apps.webhooks]]
id = "broken"
url = "{broken}"
event_types = ["channel_occupied"]

[[apps.webhooks]]
url = "{good}"
event_types = ["channel_occupied"]
"#,
            broken = sink.url("/status/503"),
            good = sink.url("/good"),
        ),
    );
    let gateway = Gateway::start(&config);
    let (status, _) = post_signed(
        &gateway,
        KEY,
        SECRET,
        &batch(&[json!({"name": "channel_occupied", "channel": "c"})]),
    );
    assert_eq!(status, 200);
    let mut got: Vec<String> = sink.expect(2).into_iter().map(|r| r.path).collect();
    got.sort();
    assert_eq!(got, ["/good", "/status/503"]);
    let line = gateway.wait_for_log(&["delivery failed", "503"]);
    assert!(
        line.contains("broken"),
        "the failure names the webhook: {line}"
    );
}

#[test]
fn a_slow_endpoint_does_not_hold_back_another_webhook() {
    let sink = Sink::start(SECRET, KEY);
    let settings = "\n[delivery]\nmax_in_flight_per_webhook = 1\n";
    let config = one_app_config(
        settings,
        &format!(
            r#"
[[apps.webhooks]]
url = "{slow}"
event_types = ["channel_occupied"]

[[apps.webhooks]]
url = "{fast}"
event_types = ["channel_occupied"]
"#,
            slow = sink.url("/slow/1000"),
            fast = sink.url("/fast"),
        ),
    );
    let gateway = Gateway::start(&config);
    for i in 0..5 {
        let body = batch(&[json!({"name": "channel_occupied", "channel": format!("c{i}")})]);
        assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
    }
    // The slow webhook has one lane: one delivery at a time. The fast one must not wait for it:
    // all its events arrive while the slow one has made at most its first delivery.
    let fast_events = |got: &[Received]| {
        let fast = got.iter().filter(|r| r.path == "/fast");
        fast.map(|r| r.event_names().len()).sum::<usize>()
    };
    let got = sink.until("the fast webhook's 5 events", |got| fast_events(got) == 5);
    let slow_done = got.iter().filter(|r| r.path.starts_with("/slow")).count();
    assert!(
        slow_done <= 1,
        "fast deliveries waited for slow ones: {got:?}"
    );
    // Everything still arrives, in order; what waited behind the slow delivery goes as one.
    let mut slow: Vec<_> = got
        .into_iter()
        .filter(|r| r.path.starts_with("/slow"))
        .collect();
    let slow_events = |got: &[Received]| got.iter().map(|r| r.event_names().len()).sum::<usize>();
    while slow_events(&slow) < 5 {
        slow.extend(sink.expect(1));
    }
    let channels: Vec<String> = slow
        .iter()
        .flat_map(|r| r.event_names())
        .map(|(_, c)| c)
        .collect();
    assert_eq!(channels, ["c0", "c1", "c2", "c3", "c4"]);
    assert!(
        slow.len() < 5,
        "events waiting behind a slow delivery are coalesced"
    );
}

#[test]
fn batching_groups_an_apps_events_and_never_mixes_apps() {
    let sink = Sink::start(SECRET, KEY);
    // One lane per webhook, so every channel's events are batched together; a window long
    // enough that six POSTs land within it even on a busy machine.
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"

[delivery]
lanes = 1

[[apps]]
id = "one"
key = "{KEY}"
secret = "{SECRET}"
batching = {{ window_ms = 2000, max_events = 100 }}
[[apps.webhooks]]
url = "{one}"
event_types = ["channel_occupied"]

[[apps]]
id = "two"
key = "key-two"
secret = "secret-two"
batching = {{ window_ms = 2000, max_events = 2 }}
[[apps.webhooks]]
url = "{two}"
event_types = ["channel_occupied"]
"#,
        one = sink.url("/one"),
        two = sink.url("/two"),
    );
    let gateway = Gateway::start(&config);
    let event = |c: &str| batch(&[json!({"name": "channel_occupied", "channel": c})]);
    for c in ["a", "b", "c"] {
        assert_eq!(post_signed(&gateway, KEY, SECRET, &event(c)).0, 200);
        assert_eq!(
            post_signed(&gateway, "key-two", "secret-two", &event(c)).0,
            200
        );
    }
    let got = sink.expect(3);
    sink.assert_nothing_more(&gateway);
    let one: Vec<_> = got.iter().filter(|r| r.path == "/one").collect();
    let mut two: Vec<_> = got
        .iter()
        .filter(|r| r.path == "/two")
        .map(|r| r.event_names().len())
        .collect();
    two.sort();
    assert_eq!(one.len(), 1, "app one's three events arrive as one payload");
    assert_eq!(one[0].event_names().len(), 3);
    assert_eq!(
        two,
        [1, 2],
        "app two's max_events = 2 splits its three events"
    );
}
