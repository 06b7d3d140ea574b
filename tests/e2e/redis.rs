//! The queue's Redis backend end to end, against a real `redis-server` (AUTH on, the
//! append-only file fsynced on every write): order per channel, what a killed gateway
//! acknowledged (and its retry state) delivered by the next one from Redis alone, ingest and
//! `/readyz` while Redis is down and after it restarts (idle, and mid-load under two gateways),
//! dead letters listed and replayed by the CLI straight from Redis, TLS, lanes shared by several
//! gateways (one killed, one drained; a delivery in flight on the killed one sent again under
//! its id), and a pause held by every gateway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    FAST_RETRIES, Gateway, KEY, PATIENCE, Received, Redis, SECRET, Sink, batch, client,
    one_app_config, post_signed, post_signed_with_retry_after,
};

/// A gateway config on `redis`, retrying fast, with one webhook to `url`.
fn config(redis: &Redis, url: &str) -> String {
    config_with(redis, url, "")
}

/// [`config`] with more `[server]` keys.
fn config_with(redis: &Redis, url: &str, server_keys: &str) -> String {
    let server = format!(
        "{server_keys}\n[queue]\nbackend = \"redis\"\nurl = \"{}\"\nprefix = \"test:\"\n{FAST_RETRIES}",
        redis.url()
    );
    let webhook = format!(
        "\n[[apps.webhooks]]\nid = \"hooks\"\nurl = \"{url}\"\nevent_types = [\"client_event\"]\n"
    );
    one_app_config(&server, &webhook)
}

/// `n` gateways on `redis` delivering to `url`, each draining at once on SIGTERM, once they
/// have shared out the webhook's 16 lanes (a few lease rounds).
fn gateways_sharing(redis: &Redis, url: &str, n: usize) -> Vec<Gateway> {
    let config = config_with(redis, url, "shutdown_delay_ms = 0");
    let gateways = (0..n).map(|_| Gateway::start(&config)).collect();
    std::thread::sleep(Duration::from_millis(1500));
    gateways
}

fn event(channel: &str, data: &str) -> Value {
    json!({"name": "client_event", "channel": channel, "event": "client-x", "data": data})
}

fn post(gateway: &Gateway, events: &[Value]) {
    let (status, answer) = post_signed(gateway, KEY, SECRET, &batch(events));
    assert_eq!(status, 200, "{answer}");
}

/// `count` events over `channels` channels, `per_request` to a request; data `"<channel>:<n>"`
/// with `n` counting up per channel.
fn load(gateway: &Gateway, count: usize, channels: usize, per_request: usize) -> Vec<String> {
    let mut sent = Vec::new();
    let events: Vec<(String, String)> = (0..count)
        .map(|i| {
            let channel = format!("private-c{}", i % channels);
            let data = format!("{channel}:{}", i / channels);
            (channel, data)
        })
        .collect();
    for chunk in events.chunks(per_request) {
        let batch: Vec<Value> = chunk.iter().map(|(c, d)| event(c, d)).collect();
        post(gateway, &batch);
        sent.extend(chunk.iter().map(|(_, d)| d.clone()));
    }
    sent
}

/// Requests until every one of `sent` arrived with a 200.
fn until_delivered(sink: &Sink, sent: &[String]) -> Vec<Received> {
    sink.until("every event delivered", |got| {
        let delivered: Vec<String> = got
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(Received::event_data)
            .collect();
        sent.iter().all(|d| delivered.contains(d))
    })
}

/// Asserts each channel's events arrived (with a 200) in the order they were sent, each once.
fn assert_in_order_once(delivered: &[Received], sent: &[String]) {
    let mut by_channel: HashMap<&str, Vec<u64>> = HashMap::new();
    for data in delivered
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(Received::event_data)
    {
        let (channel, n) = data.rsplit_once(':').unwrap();
        let channel = sent.iter().find(|s| s.starts_with(&format!("{channel}:")));
        let channel = channel.unwrap().rsplit_once(':').unwrap().0;
        by_channel
            .entry(channel)
            .or_default()
            .push(n.parse().unwrap());
    }
    for (channel, ns) in by_channel {
        let expected: Vec<u64> = (0..ns.len() as u64).collect();
        assert_eq!(ns, expected, "channel {channel}: in order, each once");
    }
}

#[test]
fn a_gateway_on_redis_delivers_each_channel_in_order_once() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    let gateway = Gateway::start(&config(&redis, &sink.url("/hooks")));
    let sent = load(&gateway, 300, 6, 5);
    let delivered = until_delivered(&sink, &sent);
    assert_in_order_once(&delivered, &sent);
    sink.assert_nothing_more(&gateway);
    assert_eq!(gateway.metric("switchyard_queue_bytes"), Some(0.0));
}

#[test]
fn what_a_killed_gateway_acknowledged_is_delivered_by_the_next_one_from_redis() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 503}));
    let config = config(&redis, &sink.url("/hooks"));
    let gateway = Gateway::start(&config);
    let sent = load(&gateway, 40, 4, 4);
    // A delivery's third attempt: the state of its second (attempts, due time) is in Redis.
    let failed = sink.until("a third attempt", |got| {
        got.iter().any(|r| r.attempt() == 3)
    });
    let failing_id = failed.last().unwrap().delivery_id().to_owned();
    let stopped = gateway.kill_keeping_data();
    assert!(!stopped.status.success());
    sink.recover("/hooks");
    // Another gateway, another data directory: Redis is all they share.
    let next = Gateway::start(&config);
    let delivered = until_delivered(&sink, &sent);
    assert_in_order_once(&delivered, &sent);
    let resumed: Vec<&Received> = delivered
        .iter()
        .filter(|r| r.delivery_id() == failing_id && r.status == 200)
        .collect();
    assert_eq!(resumed.len(), 1, "the failing delivery goes on, same id");
    assert!(resumed[0].attempt() > 2, "its attempts count on");
    sink.assert_nothing_more(&next);
}

/// `GET /readyz`: status and body.
fn readyz(gateway: &Gateway) -> (u16, String) {
    let response = client().get(gateway.url("/readyz")).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// Waits until `/readyz` answers `status`; returns its body.
fn wait_for_readyz(gateway: &Gateway, status: u16) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (now, text) = readyz(gateway);
        if now == status {
            return text;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {now}: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn while_redis_is_down_ingest_answers_503_and_nothing_acknowledged_is_lost() {
    let mut redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 503}));
    let gateway = Gateway::start(&config(&redis, &sink.url("/hooks")));
    assert_eq!(readyz(&gateway).0, 200);
    let mut sent = load(&gateway, 20, 2, 2);

    redis.kill();
    let body = batch(&[event("private-c0", "private-c0:down")]);
    let (status, retry_after, answer) = post_signed_with_retry_after(&gateway, &body);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(answer.contains("unreachable"), "{answer}");
    let text = wait_for_readyz(&gateway, 503);
    assert!(text.contains("Redis is unreachable"), "{text}");

    redis.restart();
    sink.recover("/hooks");
    // Back: ingest takes events again once the connection is made anew.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body = batch(&[event("private-c0", "private-c0:10")]);
        let (status, _, answer) = post_signed_with_retry_after(&gateway, &body);
        if status == 200 {
            sent.push("private-c0:10".into());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused: {status} {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let delivered = until_delivered(&sink, &sent);
    assert_in_order_once(&delivered, &sent);
    wait_for_readyz(&gateway, 200);
}

/// What a sender saw while Redis went away and came back.
#[derive(Default)]
struct LoadSeen {
    /// Event data the gateways acknowledged, in order.
    acknowledged: Vec<String>,
    /// Requests answered 503 with `Retry-After`.
    refused: usize,
}

/// Sends `rounds` rounds of one event per channel over `channels` channels, `per_request` to a
/// request, alternating between `gateways`, as a Pusher server would: a refused request is sent
/// again (after a pause) until it is acknowledged, so each channel's events go in order.
/// `acknowledged` counts the events acknowledged so far.
fn load_retrying_refusals(
    gateways: &[&Gateway],
    (channels, rounds, per_request): (usize, usize, usize),
    acknowledged: &AtomicUsize,
) -> LoadSeen {
    let mut seen = LoadSeen::default();
    let mut requests = 0;
    for round in 0..rounds {
        for chunk in (0..channels).collect::<Vec<_>>().chunks(per_request) {
            let data: Vec<String> = (chunk.iter())
                .map(|c| format!("private-c{c}:{round}"))
                .collect();
            let events: Vec<Value> = (chunk.iter().zip(&data))
                .map(|(c, d)| event(&format!("private-c{c}"), d))
                .collect();
            let body = batch(&events);
            let deadline = Instant::now() + PATIENCE;
            loop {
                requests += 1;
                let gateway = gateways[requests % gateways.len()];
                let (status, retry_after, answer) = post_signed_with_retry_after(gateway, &body);
                if status == 200 {
                    seen.acknowledged.extend(data.iter().cloned());
                    acknowledged.fetch_add(data.len(), Ordering::Relaxed);
                    break;
                }
                assert_eq!(status, 503, "{answer}");
                assert!(retry_after.is_some(), "503 without Retry-After: {answer}");
                seen.refused += 1;
                assert!(Instant::now() < deadline, "refused for too long: {answer}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    seen
}

#[test]
fn redis_restarted_mid_load_loses_nothing_two_gateways_acknowledged() {
    let mut redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    let nodes = gateways_sharing(&redis, &sink.url("/hooks"), 2);
    let (first, second) = (&nodes[0], &nodes[1]);
    let acknowledged = AtomicUsize::new(0);
    let gateways = [first, second];
    let seen = std::thread::scope(|scope| {
        let sender = scope.spawn(|| load_retrying_refusals(&gateways, (12, 60, 4), &acknowledged));
        // Mid-load: once both have taken some of it, Redis dies, stays down a while, and
        // comes back on the same append-only file.
        let deadline = Instant::now() + PATIENCE;
        while acknowledged.load(Ordering::Relaxed) < 120 {
            assert!(Instant::now() < deadline, "the load did not get under way");
            std::thread::sleep(Duration::from_millis(5));
        }
        redis.kill();
        wait_for_readyz(first, 503);
        std::thread::sleep(Duration::from_millis(500));
        redis.restart();
        sender.join().unwrap()
    });
    assert!(seen.refused > 0, "ingest answered 503 while Redis was down");
    let delivered = until_delivered(&sink, &seen.acknowledged);
    let duplicates = assert_in_order_counting_duplicates(&delivered, &seen.acknowledged);
    wait_for_readyz(first, 200);
    wait_for_readyz(second, 200);
    eprintln!(
        "Redis restart: {} events acknowledged, all delivered in order; {} requests refused while it was down; {duplicates} delivered twice",
        seen.acknowledged.len(),
        seen.refused
    );
}

#[test]
fn dead_letters_live_in_redis_and_the_cli_replays_them_with_no_gateway_running() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 400}));
    let config = config(&redis, &sink.url("/hooks"));
    let gateway = Gateway::start(&config);
    post(&gateway, &[event("private-a", "refused")]);
    assert_eq!(sink.expect(1)[0].status, 400);
    gateway.wait_for_log(&["delivery dead-lettered", "rejected"]);
    let stopped = gateway.stop_keeping_data();
    assert!(stopped.status.success());

    // No gateway: the CLI reads Redis itself.
    let config_path = stopped.config.to_str().unwrap();
    let dlq = |args: &[&str]| {
        let mut all = vec!["dlq", "--config", config_path];
        all.extend_from_slice(args);
        crate::support::run_cli(&all)
    };
    let (code, listed) = dlq(&["list", "--json"]);
    assert_eq!(code, 0, "{listed}");
    assert!(listed.contains("reading the queue in Redis"), "{listed}");
    let letter = listed.lines().find(|l| l.starts_with('{')).unwrap();
    let letter: Value = serde_json::from_str(letter).unwrap();
    assert_eq!(letter["reason"], "rejected");
    let (code, replayed) = dlq(&["replay", "--all"]);
    assert_eq!(code, 0, "{replayed}");
    assert!(replayed.contains("replayed 1"), "{replayed}");

    // A gateway started in another directory delivers the replayed events.
    sink.recover("/hooks");
    let next = Gateway::start(&config);
    let again = sink.expect(1);
    assert_eq!(
        (again[0].status, again[0].event_data()),
        (200, vec!["refused".to_string()])
    );
    let (_, listed) = next.dlq(&["list"]);
    assert!(listed.contains("no dead letters"), "{listed}");
}

#[test]
fn over_tls_a_gateway_trusting_the_servers_ca_delivers_in_order() {
    let redis = Redis::start_tls();
    let sink = Sink::start(SECRET, KEY);
    // The system's roots, replaced by the test CA (rustls-native-certs reads SSL_CERT_FILE).
    let ca = redis.ca_file();
    let env = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let config = config(&redis, &sink.url("/hooks"));
    assert!(config.contains("rediss://"));
    let gateway = Gateway::start_with(&config, "switchyard.toml", &env);
    let sent = load(&gateway, 30, 3, 3);
    let delivered = until_delivered(&sink, &sent);
    assert_in_order_once(&delivered, &sent);
    sink.assert_nothing_more(&gateway);
}

/// Each channel's events, as first received (a 200), are in the order sent, and every one of
/// `sent` arrived; returns how many events arrived more than once.
fn assert_in_order_counting_duplicates(delivered: &[Received], sent: &[String]) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut next: HashMap<String, u64> = HashMap::new();
    let mut duplicates = 0;
    for data in delivered
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(Received::event_data)
    {
        if !seen.insert(data.clone()) {
            duplicates += 1;
            continue;
        }
        let (channel, n) = data.rsplit_once(':').unwrap();
        let expected = next.entry(channel.to_owned()).or_default();
        assert_eq!(
            n.parse::<u64>().unwrap(),
            *expected,
            "channel {channel} reordered"
        );
        *expected += 1;
    }
    assert!(sent.iter().all(|d| seen.contains(d)), "every event arrived");
    duplicates
}

/// Events delivered by `gateway` so far.
fn delivered_by(gateway: &Gateway) -> f64 {
    gateway.metric_sum("switchyard_events_delivered_total", &[])
}

#[test]
fn three_gateways_share_the_lanes_and_a_killed_one_loses_nothing_and_reorders_nothing() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    let nodes = gateways_sharing(&redis, &sink.url("/hooks"), 3);
    let mut nodes: Vec<Option<Gateway>> = nodes.into_iter().map(Some).collect();
    let (channels, rounds, per_request) = (24, 40, 6);
    let mut sent = Vec::new();
    let mut counters = vec![0u64; channels];
    for round in 0..rounds {
        if round == rounds / 3 {
            let killed = nodes[2].take().unwrap().kill_keeping_data();
            assert!(!killed.status.success());
        }
        let node = nodes
            .iter()
            .flatten()
            .nth(round % if round < rounds / 3 { 3 } else { 2 });
        let node = node.unwrap();
        for chunk in (0..channels).collect::<Vec<_>>().chunks(per_request) {
            let events: Vec<Value> = chunk
                .iter()
                .map(|c| {
                    let data = format!("private-c{c}:{}", counters[*c]);
                    counters[*c] += 1;
                    sent.push(data.clone());
                    event(&format!("private-c{c}"), &data)
                })
                .collect();
            post(node, &events);
        }
    }
    let delivered = until_delivered(&sink, &sent);
    let duplicates = assert_in_order_counting_duplicates(&delivered, &sent);
    let live: Vec<&Gateway> = nodes.iter().flatten().collect();
    for node in &live {
        assert!(
            delivered_by(node) > 0.0,
            "each live node delivered some lanes"
        );
    }
    eprintln!(
        "node loss: {} events acknowledged, all delivered; {duplicates} delivered twice",
        sent.len()
    );
}

#[test]
fn a_delivery_in_flight_on_a_killed_gateway_is_sent_again_with_the_same_id() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    // The receiver takes a second to answer: deliveries are in flight when a gateway dies.
    let mut nodes = gateways_sharing(&redis, &sink.url("/slow/1000"), 2);
    let sent = load(&nodes[0], 64, 16, 4);
    std::thread::sleep(Duration::from_millis(300));
    let killed = nodes.pop().unwrap().kill_keeping_data();
    assert!(!killed.status.success());
    let delivered = until_delivered(&sink, &sent);
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for request in delivered.iter().filter(|r| r.status == 200) {
        for data in request.event_data() {
            ids.entry(data)
                .or_default()
                .push(request.delivery_id().to_owned());
        }
    }
    let resent: Vec<&Vec<String>> = ids.values().filter(|ids| ids.len() > 1).collect();
    assert!(
        !resent.is_empty(),
        "the killed gateway had deliveries in flight"
    );
    for ids in &resent {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "sent again under another id: {ids:?}"
        );
    }
    assert_in_order_counting_duplicates(&delivered, &sent);
    eprintln!(
        "{} events sent again, each under its first delivery id",
        resent.len()
    );
}

#[test]
fn a_drained_gateways_lanes_move_at_once_without_loss_or_reordering() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 503}));
    let config = config_with(&redis, &sink.url("/hooks"), "shutdown_delay_ms = 0");
    let first = Gateway::start(&config);
    let second = Gateway::start(&config);
    std::thread::sleep(Duration::from_millis(1000));
    let sent = load(&first, 120, 12, 6);
    // Both fail and retry; the first is drained with its lanes holding failed deliveries.
    sink.until("attempts", |got| got.len() >= 6);
    let stopped = first.stop_keeping_data();
    assert!(stopped.status.success());
    let drained_at = Instant::now();
    sink.recover("/hooks");
    let delivered = until_delivered(&sink, &sent);
    assert!(
        drained_at.elapsed() < Duration::from_secs(3),
        "moved before the leases would lapse: {:?}",
        drained_at.elapsed()
    );
    let duplicates = assert_in_order_counting_duplicates(&delivered, &sent);
    assert_eq!(duplicates, 0, "a drain sends nothing twice");
    sink.assert_nothing_more(&second);
}

/// Which of `gateways` logged a line with every one of `needles`.
fn which_logged<'g>(gateways: &[&'g Gateway], needles: &[&str]) -> &'g Gateway {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = gateways.iter().find(|g| {
            g.logs()
                .iter()
                .any(|l| needles.iter().all(|n| l.contains(n)))
        });
        if let Some(gateway) = found {
            return gateway;
        }
        assert!(Instant::now() < deadline, "no gateway logged {needles:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn retries_go_on_after_the_gateway_holding_the_lane_dies_and_dead_letters_replay_from_another() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 503}));
    let config = config_with(&redis, &sink.url("/hooks"), "shutdown_delay_ms = 0");
    let mut nodes = vec![Gateway::start(&config), Gateway::start(&config)];
    std::thread::sleep(Duration::from_millis(1000));
    // One channel, one lane: one gateway holds it and retries.
    post(&nodes[1], &[event("private-a", "retried")]);
    let attempts = sink.until("a third attempt", |got| {
        got.iter().any(|r| r.attempt() == 3)
    });
    let id = attempts.last().unwrap().delivery_id().to_owned();
    let holder = {
        let both: Vec<&Gateway> = nodes.iter().collect();
        let holder = which_logged(&both, &["delivery failed", &id]);
        nodes.iter().position(|n| std::ptr::eq(n, holder)).unwrap()
    };
    let killed = nodes.remove(holder).kill_keeping_data();
    assert!(!killed.status.success());
    sink.recover("/hooks");
    let delivered = sink.until("the delivery taken", |got| {
        got.iter().any(|r| r.status == 200)
    });
    let taken = delivered.iter().find(|r| r.status == 200).unwrap();
    assert_eq!(
        taken.delivery_id(),
        id,
        "the same delivery, from the other gateway"
    );
    assert!(
        taken.attempt() > 2,
        "its attempts count on: {}",
        taken.attempt()
    );

    // A dead letter made by whichever gateway holds the lane, replayed through the other.
    nodes.push(Gateway::start(&config));
    std::thread::sleep(Duration::from_millis(1000));
    sink.behave("/hooks", json!({"status": 400}));
    post(&nodes[0], &[event("private-a", "refused")]);
    assert_eq!(sink.expect(1)[0].status, 400);
    let both: Vec<&Gateway> = nodes.iter().collect();
    let maker = which_logged(&both, &["delivery dead-lettered", "rejected"]);
    let other = both.iter().find(|n| !std::ptr::eq(**n, maker)).unwrap();
    sink.recover("/hooks");
    let (code, replayed) = other.dlq(&["replay", "--all"]);
    assert_eq!(code, 0, "{replayed}");
    assert!(replayed.contains("replayed 1"), "{replayed}");
    let again = sink.expect(1);
    assert_eq!(
        (again[0].status, again[0].event_data()),
        (200, vec!["refused".to_string()])
    );
}

#[test]
fn a_webhook_paused_on_one_gateway_is_held_by_every_gateway_until_resumed_on_another() {
    let redis = Redis::start();
    let sink = Sink::start(SECRET, KEY);
    let nodes = gateways_sharing(&redis, &sink.url("/hooks"), 2);
    let (first, second) = (&nodes[0], &nodes[1]);
    let (status, answer) = first.admin_post("/webhooks/app-1/hooks/pause");
    assert_eq!(status, 200, "{answer}");
    // The other gateway reads the pause from Redis within a second.
    std::thread::sleep(Duration::from_millis(1500));
    let sent = load(second, 48, 16, 4);
    assert!(
        sink.next_within(Duration::from_millis(1500)).is_none(),
        "no gateway sends while the webhook is paused"
    );
    let (status, _) = second.admin_post("/webhooks/app-1/hooks/resume");
    assert_eq!(status, 200);
    let delivered = until_delivered(&sink, &sent);
    assert_in_order_once(&delivered, &sent);
    assert!(delivered_by(first) > 0.0 && delivered_by(second) > 0.0);
}
