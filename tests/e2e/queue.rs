//! The durable queue end to end: retries until the receiver takes a delivery, `Retry-After`,
//! dead letters and their replay (gateway running or stopped), isolation and the circuit
//! breaker, order per channel, coalescing, backpressure, kill -9, SIGTERM with a backlog,
//! ingest dedupe, a webhook removed by a reload, and a paused webhook held across a restart.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::queue::lane_of;

use crate::support::{
    FAST_RETRIES, Gateway, KEY, PATIENCE, Received, SECRET, Sink, batch, one_app_config,
    post_signed, post_signed_with_retry_after, python_pusher_validate, signed_headers,
    with_free_admin_port,
};

/// A webhook table for `url` with `extra` TOML lines.
fn webhook(id: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[[apps.webhooks]]\nid = \"{id}\"\nurl = \"{url}\"\nevent_types = [\"client_event\"]\n{extra}\n"
    )
}

/// A client event on `channel` carrying `data`.
fn event(channel: &str, data: &str) -> Value {
    json!({"name": "client_event", "channel": channel, "event": "client-x", "data": data})
}

fn post(gateway: &Gateway, events: &[Value]) {
    let (status, answer) = post_signed(gateway, KEY, SECRET, &batch(events));
    assert_eq!(status, 200, "{answer}");
}

/// Requests until every `data` in `want` was delivered with a 2xx answer.
fn until_delivered(sink: &Sink, want: &[String]) -> Vec<Received> {
    let want: HashSet<&String> = want.iter().collect();
    sink.until("every event delivered", |got| {
        let delivered: HashSet<String> = got
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(Received::event_data)
            .collect();
        want.iter().all(|d| delivered.contains(*d))
    })
}

fn data_of(requests: &[Received]) -> Vec<String> {
    requests.iter().flat_map(Received::event_data).collect()
}

#[test]
fn a_failing_receiver_gets_the_same_delivery_again_until_it_takes_it() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 503, "times": 3}));
    let config = one_app_config(FAST_RETRIES, &webhook("hooks", &sink.url("/hooks"), ""));
    let gateway = Gateway::start(&config);
    post(
        &gateway,
        &[event("private-a", "1"), event("private-a", "2")],
    );

    let attempts = sink.expect(4);
    let statuses: Vec<u16> = attempts.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 503, 200]);
    let numbers: Vec<u32> = attempts.iter().map(Received::attempt).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    let id = attempts[0].delivery_id();
    assert!(!id.is_empty());
    for attempt in &attempts {
        assert_eq!(
            attempt.delivery_id(),
            id,
            "one delivery id for every attempt"
        );
        assert_eq!(
            attempt.event_data(),
            ["1", "2"],
            "the delivery's events are fixed"
        );
        assert_eq!(attempt.js_signature_ok, Some(true));
        assert_eq!(attempt.pusher_sdk_valid, Some(true), "Pusher's Node SDK");
    }
    let times: Vec<u64> = attempts
        .iter()
        .map(|r| r.json()["time_ms"].as_u64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "each attempt is built anew with a fresh time_ms: {times:?}"
    );
    let verdicts = python_pusher_validate(KEY, SECRET, &attempts);
    assert_eq!(verdicts, ["valid"; 4], "Pusher's Python SDK");
    let failed = gateway.wait_for_log(&["delivery failed", "\"attempt\":3", id]);
    assert!(failed.contains("next_attempt_ms"), "{failed}");
    let delivered = r#"switchyard_events_delivered_total{app="app-1",webhook="hooks"}"#;
    gateway.wait_for_metric(delivered, 2.0);
    let retries = r#"switchyard_delivery_retries_total{app="app-1",webhook="hooks"}"#;
    assert_eq!(gateway.metric(retries), Some(3.0));
}

#[test]
fn retry_after_is_honoured() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave(
        "/hooks",
        json!({"status": 429, "times": 1, "retry_after": "2"}),
    );
    let config = one_app_config(FAST_RETRIES, &webhook("hooks", &sink.url("/hooks"), ""));
    let gateway = Gateway::start(&config);
    post(&gateway, &[event("private-a", "1")]);
    let [first, second] = sink.expect(2).try_into().unwrap();
    assert_eq!((first.status, second.status), (429, 200));
    let waited = second.received_ms - first.received_ms;
    assert!(
        waited >= 2000,
        "the second attempt came {waited} ms after a Retry-After of 2 s"
    );
}

#[test]
fn a_refused_delivery_is_dead_lettered_at_once_and_replayed_running_or_stopped() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 400}));
    // The CLI reaches the running gateway with the admin token from the config.
    let admin = "\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"s3cret-admin\"\n";
    let config = one_app_config(
        &format!("{FAST_RETRIES}{admin}"),
        &webhook("hooks", &sink.url("/hooks"), ""),
    );
    let gateway = Gateway::start(&config);
    post(&gateway, &[event("private-a", "first")]);
    let refused = sink.expect(1);
    assert_eq!(refused[0].status, 400);
    gateway.wait_for_log(&["delivery dead-lettered", "rejected"]);
    let (code, listed) = gateway.dlq(&["list", "--json"]);
    assert_eq!(code, 0, "{listed}");
    let letters: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{listed}");
    let letter = &letters[0];
    assert_eq!(letter["reason"], "rejected");
    assert_eq!(letter["attempts"], 1, "not retried");
    assert!(
        letter["detail"].as_str().unwrap().contains("HTTP 400"),
        "{letter}"
    );
    let id = letter["id"].to_string();
    let (code, shown) = gateway.dlq(&["show", &id]);
    assert_eq!(code, 0, "{shown}");
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["events"][0]["data"], "first");
    assert!(
        !shown.to_string().contains(SECRET),
        "no secret in a dead letter"
    );

    // Fixed, and replayed through the running gateway.
    sink.recover("/hooks");
    let (code, replayed) = gateway.dlq(&["replay", &id]);
    assert_eq!(code, 0, "{replayed}");
    assert!(replayed.contains("replayed 1"), "{replayed}");
    let again = sink.expect(1);
    assert_eq!(
        (again[0].status, again[0].event_data()),
        (200, vec!["first".to_string()])
    );
    let (_, listed) = gateway.dlq(&["list"]);
    assert!(listed.contains("no dead letters"), "{listed}");

    // Purged: gone, never delivered.
    sink.behave("/hooks", json!({"status": 410}));
    post(&gateway, &[event("private-a", "unwanted")]);
    assert_eq!(sink.expect(1)[0].status, 410);
    gateway.wait_for_log(&["delivery dead-lettered", "410"]);
    let (code, purged) = gateway.dlq(&["purge", "--webhook", "hooks"]);
    assert_eq!(code, 0, "{purged}");
    assert!(purged.contains("purged 1"), "{purged}");
    let (_, listed) = gateway.dlq(&["list"]);
    assert!(listed.contains("no dead letters"), "{listed}");

    // Refused again, then replayed with the gateway stopped, from its data directory.
    sink.behave("/hooks", json!({"status": 422}));
    post(&gateway, &[event("private-a", "second")]);
    assert_eq!(sink.expect(1)[0].status, 422);
    gateway.wait_for_log(&["delivery dead-lettered", "422"]);
    let admin = gateway.admin_url("");
    let stopped = gateway.stop_keeping_data();
    assert!(stopped.status.success());
    sink.recover("/hooks");
    let config_path = stopped.config.to_str().unwrap().to_owned();
    let (code, out) = crate::support::run_cli(&[
        "dlq",
        "--config",
        &config_path,
        "--admin",
        &admin,
        "replay",
        "--all",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reading its data directory"), "{out}");
    assert!(out.contains("replayed 1"), "{out}");
    let _gateway = stopped.restart();
    let delivered = sink.expect(1);
    assert_eq!(delivered[0].status, 200);
    assert_eq!(delivered[0].event_data(), ["second"]);
}

#[test]
fn a_dead_endpoint_gets_one_probe_per_interval_and_does_not_delay_a_healthy_webhook() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/dead", json!({"status": 503}));
    let retries = "
[delivery]
lanes = 8
[delivery.retry]
initial_interval_ms = 200
max_interval_ms = 200
open_circuit_after = 3
";
    let webhooks = webhook("dead", &sink.url("/dead"), "") + &webhook("ok", &sink.url("/ok"), "");
    let gateway = Gateway::start(&one_app_config(retries, &webhooks));
    let want: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    for d in &want {
        post(&gateway, &[event(&format!("presence-{d}"), d)]);
    }
    let healthy = |got: &[Received]| {
        let ok: Vec<&Received> = got.iter().filter(|r| r.path == "/ok").collect();
        data_of(&ok.into_iter().cloned().collect::<Vec<_>>()).len()
    };
    let got = sink.until("the healthy webhook's 40 events", |got| healthy(got) == 40);
    let open = r#"switchyard_circuit_open{app="app-1",webhook="dead"}"#;
    assert_eq!(
        gateway.metric(open),
        Some(1.0),
        "the healthy webhook got everything while the dead one's circuit was open"
    );
    // Watch the dead endpoint for two seconds from the first request it got.
    let mut dead: Vec<u64> = got
        .iter()
        .filter(|r| r.path == "/dead")
        .map(|r| r.received_ms)
        .collect();
    let first = dead[0];
    while let Some(r) = sink.next_within(Duration::from_millis(100)) {
        if r.path == "/dead" {
            dead.push(r.received_ms);
        }
        if r.received_ms > first + 2500 {
            break;
        }
    }
    let window: Vec<u64> = dead.into_iter().filter(|t| *t < first + 2000).collect();
    // At most one first attempt per lane before the circuit opened, then one probe per
    // 200 ms interval; without the breaker, 8 lanes would retry every 200 ms (80 requests).
    assert!(
        window.len() <= 8 + 2000 / 200 + 1,
        "the dead endpoint got {} requests in 2 s: {window:?}",
        window.len()
    );
}

#[test]
fn a_channels_events_arrive_in_order_when_the_first_attempts_failed() {
    let sink = Sink::start(SECRET, KEY);
    let lanes = 4;
    let slow = "presence-slow";
    let fast = (0..)
        .map(|i| format!("presence-fast-{i}"))
        .find(|c| lane_of(c, lanes) != lane_of(slow, lanes))
        .unwrap();
    sink.behave(
        "/hooks",
        json!({"status": 503, "times": 2, "match": format!("\"channel\":\"{slow}\"")}),
    );
    let settings = format!("{FAST_RETRIES}\n[delivery]\nlanes = {lanes}\n");
    let config = one_app_config(&settings, &webhook("hooks", &sink.url("/hooks"), "")).replace(
        "secret = \"app-secret\"",
        "secret = \"app-secret\"\nbatching = { max_events = 1 }",
    );
    let gateway = Gateway::start(&config);
    for n in 1..=3 {
        post(&gateway, &[event(slow, &format!("s{n}"))]);
        post(&gateway, &[event(&fast, &format!("f{n}"))]);
    }
    let want: Vec<String> = ["s1", "s2", "s3", "f1", "f2", "f3"]
        .map(String::from)
        .to_vec();
    let got = until_delivered(&sink, &want);
    let delivered: Vec<String> = got
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(Received::event_data)
        .collect();
    let slow_order: Vec<&String> = delivered.iter().filter(|d| d.starts_with('s')).collect();
    assert_eq!(slow_order, ["s1", "s2", "s3"], "in ingest order");
    let failed: Vec<String> = got
        .iter()
        .filter(|r| r.status != 200)
        .flat_map(Received::event_data)
        .collect();
    assert_eq!(failed, ["s1", "s1"], "the failing delivery held its lane");
    let s1_done = delivered.iter().position(|d| d == "s1").unwrap();
    let fast_done = delivered.iter().rposition(|d| d.starts_with('f')).unwrap();
    assert!(
        fast_done < s1_done,
        "the other channel was not held back: {delivered:?}"
    );
}

#[test]
fn a_backlog_is_coalesced_into_few_deliveries_in_order() {
    let sink = Sink::start(SECRET, KEY);
    let config = one_app_config(
        "\n[delivery]\nlanes = 1\n",
        &webhook("hooks", &sink.url("/slow/300"), ""),
    );
    let gateway = Gateway::start(&config);
    let want: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    for d in &want {
        post(&gateway, &[event(&format!("private-{d}"), d)]);
    }
    let got = until_delivered(&sink, &want);
    assert_eq!(data_of(&got), want, "every event once, in order");
    assert!(got.len() < 30, "{} deliveries for 30 events", got.len());
    let largest = got.iter().map(|r| r.event_data().len()).max().unwrap();
    assert!(largest > 1, "deliveries carry several events");
}

#[test]
fn an_idle_gateway_sends_at_once_and_a_batching_window_waits() {
    let sink = Sink::start(SECRET, KEY);
    let config = format!(
        "{}\n[[apps]]\nid = \"app-2\"\nkey = \"key-two\"\nsecret = \"secret-two\"\nbatching = {{ window_ms = 1500 }}\n{}",
        one_app_config("", &webhook("now", &sink.url("/now"), "")),
        webhook("later", &sink.url("/later"), ""),
    );
    let gateway = Gateway::start(&config);
    let body = batch(&[event("private-a", "x")]);
    assert_eq!(post_signed(&gateway, "key-two", "secret-two", &body).0, 200);
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
    let [first, second] = sink.expect(2).try_into().unwrap();
    assert_eq!(
        (first.path.as_str(), second.path.as_str()),
        ("/now", "/later"),
        "without a window the event is sent at once; the windowed one waits"
    );
    assert!(second.received_ms - first.received_ms >= 1000);
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_loses_nothing_acknowledged() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 503}));
    let settings = format!("{FAST_RETRIES}\n[queue]\nmax_bytes = 4096\n");
    let config = one_app_config(&settings, &webhook("hooks", &sink.url("/hooks"), ""));
    let gateway = Gateway::start(&config);
    let mut acked = Vec::new();
    let mut refused = None;
    for n in 0..200 {
        let data = format!("{n}-{}", "x".repeat(200));
        let (status, retry_after, body) =
            post_signed_with_retry_after(&gateway, &batch(&[event("private-a", &data)]));
        match status {
            200 => acked.push(data),
            503 => {
                refused = Some((retry_after, body));
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let (retry_after, body) = refused.expect("the queue filled up");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body.contains("queue is full"), "{body}");
    assert!(!acked.is_empty());
    let full = r#"switchyard_ingest_requests_total{app="app-1",outcome="queue_full"}"#;
    assert_eq!(gateway.metric(full), Some(1.0));

    sink.recover("/hooks");
    let got = until_delivered(&sink, &acked);
    let delivered: HashSet<String> = got
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(Received::event_data)
        .collect();
    assert!(acked.iter().all(|d| delivered.contains(d)));
    // Drained: accepted again.
    let mut accepted = false;
    let deadline = Instant::now() + PATIENCE;
    while !accepted && Instant::now() < deadline {
        let body = batch(&[event("private-a", "after")]);
        accepted = post_signed_with_retry_after(&gateway, &body).0 == 200;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(accepted, "ingest accepts again once the queue drained");
}

#[test]
fn every_acknowledged_event_is_delivered_after_kill_9() {
    let sink = Sink::start(SECRET, KEY);
    // A receiver that takes 20 ms per delivery: a backlog waits, and deliveries are in flight,
    // when the gateway is killed.
    let config = one_app_config("", &webhook("hooks", &sink.url("/slow/20"), ""));
    let gateway = Gateway::start(&config);
    let url = gateway.url("/ingest/pusher");
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (url, next, acked) = (url.clone(), next.clone(), acked.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let body = batch(&[event(&format!("private-{}", n % 50), &n.to_string())]);
                    let mut request = client.post(&url);
                    for (name, value) in signed_headers(&body) {
                        request = request.header(name, value);
                    }
                    let sent = request.body(body).send();
                    match sent {
                        Ok(r) if r.status() == 200 => acked.lock().unwrap().push(n.to_string()),
                        Ok(_) => {}
                        // The gateway is gone: what was not answered was not acknowledged.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while acked.lock().unwrap().len() < 2000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopped = gateway.kill_keeping_data();
    for loader in loaders {
        loader.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let _restarted = stopped.restart();
    let got = sink.until("every acknowledged event", |got| {
        let delivered: HashSet<String> = data_of(got).into_iter().collect();
        acked.iter().all(|d| delivered.contains(d))
    });
    let mut seen: HashMap<String, u32> = HashMap::new();
    for d in data_of(&got) {
        *seen.entry(d).or_default() += 1;
    }
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "kill -9: {} acknowledged, {} delivered (distinct), {duplicates} duplicates, {} requests sent",
        acked.len(),
        seen.len(),
        next.load(Ordering::SeqCst)
    );
    assert!(acked.len() >= 1000, "only {} acknowledged", acked.len());
}

#[test]
fn a_backlog_left_at_sigterm_is_delivered_after_the_restart() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 503}));
    let config = one_app_config(FAST_RETRIES, &webhook("hooks", &sink.url("/hooks"), ""));
    let gateway = Gateway::start(&config);
    let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    for d in &want {
        post(&gateway, &[event(&format!("private-{d}"), d)]);
    }
    gateway.wait_for_log(&["delivery failed"]);
    let stopped = gateway.stop_keeping_data();
    assert!(stopped.status.success());
    sink.recover("/hooks");
    let _gateway = stopped.restart();
    until_delivered(&sink, &want);
}

#[test]
fn with_a_dedupe_window_the_same_body_is_delivered_once() {
    let sink = Sink::start(SECRET, KEY);
    let config = format!(
        "{}\n[[apps]]\nid = \"app-2\"\nkey = \"key-two\"\nsecret = \"secret-two\"\n{}",
        one_app_config("", &webhook("dedupe", &sink.url("/dedupe"), "")).replace(
            "secret = \"app-secret\"",
            "secret = \"app-secret\"\ndedupe_window_ms = 60000"
        ),
        webhook("plain", &sink.url("/plain"), ""),
    );
    let gateway = Gateway::start(&config);
    let body = batch(&[event("private-a", "once")]);
    let (_, first) = post_signed(&gateway, KEY, SECRET, &body);
    let (status, again) = post_signed(&gateway, KEY, SECRET, &body);
    assert_eq!(status, 200, "a repeat is acknowledged");
    assert!(
        !first.contains("duplicate") && again.contains("\"duplicate\":true"),
        "{again}"
    );
    for _ in 0..2 {
        assert_eq!(post_signed(&gateway, "key-two", "secret-two", &body).0, 200);
    }
    let got = sink.until("the plain webhook's two deliveries", |got| {
        got.iter().filter(|r| r.path == "/plain").count() == 2
    });
    let delivered = |app: &str, webhook: &str| {
        format!("switchyard_events_delivered_total{{app=\"{app}\",webhook=\"{webhook}\"}}")
    };
    gateway.wait_for_metric(&delivered("app-1", "dedupe"), 1.0);
    let duplicates = r#"switchyard_ingest_requests_total{app="app-1",outcome="duplicate"}"#;
    assert_eq!(gateway.metric(duplicates), Some(1.0));
    let depth = r#"switchyard_queue_events{app="app-1",webhook="dedupe"}"#;
    assert_eq!(gateway.metric(depth), Some(0.0), "nothing else waits");
    let dedupe_requests = got.iter().filter(|r| r.path == "/dedupe").count()
        + std::iter::from_fn(|| sink.next_within(Duration::ZERO)).count();
    assert_eq!(dedupe_requests, 1);
    let plain: Vec<&Received> = got.iter().filter(|r| r.path == "/plain").collect();
    assert_ne!(
        plain[0].delivery_id(),
        plain[1].delivery_id(),
        "two deliveries"
    );
}

#[test]
fn a_webhook_removed_by_a_reload_has_its_waiting_events_dead_lettered() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/gone", json!({"status": 503}));
    let keep = webhook("keep", &sink.url("/keep"), "");
    let gone = webhook("gone", &sink.url("/gone"), "");
    let gateway = Gateway::start(&one_app_config(FAST_RETRIES, &(keep.clone() + &gone)));
    for d in ["a", "b", "c"] {
        post(&gateway, &[event(&format!("private-{d}"), d)]);
    }
    gateway.wait_for_log(&["delivery failed", "gone"]);
    let without_gone =
        with_free_admin_port(&one_app_config(FAST_RETRIES, &keep), "switchyard.toml");
    std::fs::write(&gateway.config, without_gone).unwrap();
    gateway.wait_for_log(&["webhook removed", "dead-lettered", "app-1/gone"]);
    let (code, listed) = gateway.dlq(&["list", "--json", "--webhook", "gone"]);
    assert_eq!(code, 0, "{listed}");
    let letters: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: u64 = letters.iter().map(|l| l["events"].as_u64().unwrap()).sum();
    assert_eq!(events, 3, "{listed}");
    assert!(
        letters.iter().all(|l| l["reason"] == "webhook_removed"),
        "{listed}"
    );
    let keep_delivered = r#"switchyard_events_delivered_total{app="app-1",webhook="keep"}"#;
    gateway.wait_for_metric(keep_delivered, 3.0);
}

#[test]
fn a_paused_webhook_holds_its_deliveries_across_a_restart_until_resumed() {
    let sink = Sink::start(SECRET, KEY);
    let config = one_app_config("", &webhook("hooks", &sink.url("/hooks"), ""));
    let gateway = Gateway::start(&config);
    let (status, answer) = gateway.admin_post("/webhooks/app-1/hooks/pause");
    assert_eq!(
        (status, &answer["changed"]),
        (200, &json!(true)),
        "{answer}"
    );
    let (status, _) = gateway.admin_post("/webhooks/app-1/nope/pause");
    assert_eq!(status, 404);
    let sent: Vec<String> = (0..12)
        .map(|n| format!("private-c{}:{}", n % 3, n / 3))
        .collect();
    for data in &sent {
        post(&gateway, &[event(data.split(':').next().unwrap(), data)]);
    }
    let held = Duration::from_millis(1500);
    assert!(
        sink.next_within(held).is_none(),
        "nothing is sent while paused"
    );

    // The pause is in the store: a restarted gateway holds the deliveries too.
    let stopped = gateway.stop_keeping_data();
    let gateway = stopped.restart();
    assert!(
        sink.next_within(held).is_none(),
        "still held after a restart"
    );
    let overview = gateway.admin_get("/overview");
    let hooks = &overview["apps"][0]["webhooks"][0];
    assert_eq!(
        (&hooks["paused"], &hooks["health"]),
        (&json!(true), &json!("paused"))
    );
    assert_eq!(hooks["queue"]["events"], json!(12), "{hooks}");

    let (status, _) = gateway.admin_post("/webhooks/app-1/hooks/resume");
    assert_eq!(status, 200);
    let delivered = data_of(&until_delivered(&sink, &sent));
    for channel in 0..3 {
        let prefix = format!("private-c{channel}:");
        let of_channel: Vec<&String> = delivered
            .iter()
            .filter(|d| d.starts_with(&prefix))
            .collect();
        let expected: Vec<String> = (0..4).map(|n| format!("{prefix}{n}")).collect();
        assert_eq!(
            of_channel,
            expected.iter().collect::<Vec<_>>(),
            "in order, once"
        );
    }
    let audit = gateway.admin_get("/audit");
    assert_eq!(audit["actions"][0]["action"], "resume", "{audit}");
}
