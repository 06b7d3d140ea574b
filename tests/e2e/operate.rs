//! Operating the gateway: its metrics scraped by a real Prometheus server and checked by
//! `promtool`, the example alerting rules firing there, `/readyz` during a shutdown, and the
//! log lines of failures (their ids, never a secret).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::guests::wasm;
use crate::support::{
    Gateway, KEY, Prometheus, SECRET, Sink, batch, file_hash, one_app_config, post_raw,
    post_signed, repo_root, write_atomically,
};

fn alert_rules() -> std::path::PathBuf {
    repo_root().join("deploy/prometheus/alerts.yml")
}

/// Runs `promtool ARGS` with `stdin`; its exit status and everything it printed.
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (tests/setup.sh installs Debian's prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn config(sink: &Sink, comment: &str) -> String {
    let router = wasm("filter-channel-router").display().to_string();
    one_app_config(
        "",
        &format!(
            r#"# {comment}
[[apps.webhooks]]
id = "private"
url = "{private}"
event_types = ["client_event"]
filters = [{{ name = "router", module = "{router}", params = {{ routes = [{{ webhook = "private", channels = ["private-*"] }}], otherwise = "drop" }} }}]

[[apps.webhooks]]
id = "rejecting"
url = "{rejecting}"
event_types = ["member_added"]
"#,
            private = sink.url("/private"),
            rejecting = sink.url("/rejecting"),
        ),
    )
}

#[test]
fn a_real_prometheus_scrapes_every_stage_and_the_example_alerts_fire() {
    let (ok, text) = promtool(&["check", "rules", alert_rules().to_str().unwrap()], "");
    assert!(ok, "promtool check rules: {text}");

    let sink = Sink::start(SECRET, KEY);
    sink.behave("/rejecting", json!({"status": 422}));
    let gateway = Gateway::start(&config(&sink, "first"));
    let prometheus = Prometheus::start(&gateway.addr.to_string(), &alert_rules());
    // A first scrape before any traffic, so every counter's increase is seen.
    prometheus.wait_for(r#"up{job="switchyard"}"#, |v| v == 1.0);

    let events = [
        json!({"name": "client_event", "channel": "private-a", "event": "client-x", "data": "{}"}),
        json!({"name": "client_event", "channel": "private-b", "event": "client-x", "data": "{}"}),
        json!({"name": "client_event", "channel": "public-c", "event": "client-x", "data": "{}"}),
        json!({"name": "member_added", "channel": "presence-x", "user_id": "7"}),
        json!({"name": "channel_occupied", "channel": "private-a"}),
    ];
    assert_eq!(post_signed(&gateway, KEY, SECRET, &batch(&events)).0, 200);
    let bad_signature = [("X-Pusher-Key", KEY), ("X-Pusher-Signature", "00")];
    assert_eq!(post_raw(&gateway, &bad_signature, b"{}".to_vec()).0, 401);
    let unknown_key = [("X-Pusher-Key", "nobody"), ("X-Pusher-Signature", "00")];
    assert_eq!(post_raw(&gateway, &unknown_key, b"{}".to_vec()).0, 401);
    sink.until("two private deliveries and a rejected one", |got| {
        got.iter()
            .filter(|r| r.path == "/private")
            .map(|r| r.event_names().len())
            .sum::<usize>()
            == 2
            && got.iter().any(|r| r.path == "/rejecting")
    });
    gateway.wait_until_delivered();
    // A reload that takes, then one that is refused.
    write_atomically(&gateway.config, &config(&sink, "second"));
    gateway.wait_for_log(&["reloaded"]);
    write_atomically(&gateway.config, "[[apps]]\nid = 5\n");
    gateway.wait_for_log(&["reload refused"]);

    // Each query has exactly one series, with this value (polled: scrapes come every second).
    let expected: &[(&str, f64)] = &[
        (
            r#"switchyard_ingest_requests_total{app="app-1",outcome="accepted"}"#,
            1.0,
        ),
        (
            r#"switchyard_ingest_events_total{app="app-1",outcome="accepted"}"#,
            5.0,
        ),
        (
            r#"sum(switchyard_ingest_requests_total{outcome="unauthorized"})"#,
            2.0,
        ),
        (
            r#"switchyard_ingest_requests_total{app="",outcome="unauthorized"}"#,
            1.0,
        ),
        (r#"switchyard_events_routed_total{webhook="private"}"#, 2.0),
        (
            r#"switchyard_events_dropped_total{webhook="private",reason="filter",filter="router"}"#,
            1.0,
        ),
        (
            r#"switchyard_events_dropped_total{webhook="private",reason="event_type"}"#,
            2.0,
        ),
        (
            r#"switchyard_events_dropped_total{webhook="rejecting",reason="event_type"}"#,
            4.0,
        ),
        (
            r#"switchyard_filter_calls_total{webhook="private",filter="router"}"#,
            1.0,
        ),
        (
            r#"switchyard_filter_call_duration_seconds_count{filter="router"}"#,
            1.0,
        ),
        (r#"switchyard_filter_failures_total{filter="router"}"#, 0.0),
        (
            r#"switchyard_events_delivered_total{webhook="private"}"#,
            2.0,
        ),
        (
            r#"switchyard_deliveries_total{webhook="rejecting",outcome="dead_lettered"}"#,
            1.0,
        ),
        (
            r#"switchyard_delivery_attempts_total{webhook="rejecting",outcome="failed"}"#,
            1.0,
        ),
        (r#"switchyard_dead_letters_total{webhook="rejecting"}"#, 1.0),
        // private-a and private-b hash to different lanes: two deliveries of one event each.
        (
            r#"switchyard_deliveries_total{webhook="private",outcome="delivered"}"#,
            2.0,
        ),
        (
            r#"switchyard_delivery_attempt_duration_seconds_count{webhook="private"}"#,
            2.0,
        ),
        (r#"switchyard_delivery_events_sum{webhook="private"}"#, 2.0),
        (
            r#"switchyard_delivery_wait_seconds_count{webhook="private"}"#,
            2.0,
        ),
        (r#"switchyard_queue_events{webhook="private"}"#, 0.0),
        (r#"switchyard_circuit_open{webhook="rejecting"}"#, 0.0),
        (r#"switchyard_reloads_total{outcome="succeeded"}"#, 1.0),
        (r#"switchyard_reloads_total{outcome="failed"}"#, 1.0),
    ];
    for (query, value) in expected {
        prometheus.wait_for(query, |v| v == *value);
    }
    let hash = gateway.status()["config"]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let (labels, _) = prometheus.wait_for("switchyard_config_info", |v| v == 1.0);
    assert_eq!(labels["hash"], hash, "the config running after the reload");
    let (labels, _) =
        prometheus.wait_for(r#"switchyard_filter_info{filter="router"}"#, |v| v == 1.0);
    assert_eq!(
        labels["module"],
        file_hash(&wasm("filter-channel-router")).as_str()
    );
    prometheus.wait_for(r#"process_resident_memory_bytes{job="switchyard"}"#, |v| {
        v > 1e6
    });
    prometheus.wait_for(r#"process_open_fds{job="switchyard"}"#, |v| v >= 3.0);
    let p99 = "histogram_quantile(0.99, sum by (le) (rate(switchyard_ingest_duration_seconds_bucket[1m])))";
    let (_, seconds) = prometheus.wait_for(p99, |v| v > 0.0 && v <= 10.0);

    // The example alerts, evaluated by Prometheus itself.
    for alert in ["SwitchyardDeadLetters", "SwitchyardReloadFailed"] {
        prometheus.wait_for(
            &format!(r#"ALERTS{{alertname="{alert}",alertstate="firing"}}"#),
            |v| v == 1.0,
        );
    }
    let sample = prometheus.query(r#"switchyard_deliveries_total{webhook="rejecting"}"#);
    eprintln!(
        "ingest p99 over the last minute: {seconds} s; switchyard_deliveries_total{{webhook=\"rejecting\"}}: {sample:?}"
    );

    let text = reqwest::blocking::get(gateway.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let (ok, lint) = promtool(&["check", "metrics"], &text);
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics: {lint}"
    );
}

#[test]
fn on_sigterm_readyz_fails_while_ingest_goes_on_then_ingest_stops() {
    let sink = Sink::start(SECRET, KEY);
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"channel_occupied\"]",
        sink.url("/hooks")
    );
    let gateway = Gateway::start(&one_app_config("shutdown_delay_ms = 1500", &webhook));
    let readyz = || {
        reqwest::blocking::get(gateway.url("/readyz"))
            .map(|r| r.status().as_u16())
            .ok()
    };
    assert_eq!(readyz(), Some(200));
    let body = |n: usize| batch(&[json!({"name": "channel_occupied", "channel": format!("c{n}")})]);
    gateway.signal("TERM");
    let signalled = Instant::now();
    while readyz() != Some(503) {
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "readyz did not turn 503"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        reqwest::blocking::get(gateway.url("/healthz"))
            .unwrap()
            .status(),
        200,
        "alive all along"
    );
    // Load balancers move away while the gateway still takes what reaches it.
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body(1)).0, 200);
    assert!(signalled.elapsed() < Duration::from_millis(1500));
    let mut refused = false;
    while signalled.elapsed() < Duration::from_secs(10) {
        let answer = crate::support::client()
            .post(gateway.url("/ingest/pusher"))
            .header("Content-Type", "application/json")
            .body("{}")
            .send();
        match answer {
            Ok(response) if response.status() == 503 => refused = true,
            Ok(_) => {}
            Err(_) => refused = true,
        }
        if refused {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "ingest stopped after the delay");
    assert!(
        signalled.elapsed() >= Duration::from_millis(1400),
        "not before the delay: {:?}",
        signalled.elapsed()
    );
    let stopped = gateway.stop_keeping_data();
    assert!(stopped.status.success());
    assert_eq!(
        sink.expect(1)[0].event_names()[0].1,
        "c1",
        "what it took is delivered"
    );
}

#[test]
fn a_failed_attempt_is_one_line_with_its_ids_and_no_log_line_holds_a_secret() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 500, "times": 1}));
    let token = "admin-token-not-for-logs";
    let config = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{token}\"\n\n{}",
        one_app_config(
            "\n[delivery]\nretry = { initial_interval_ms = 50 }\n",
            &format!(
                "[[apps.webhooks]]\nid = \"hooks\"\nurl = \"{}\"\nevent_types = [\"channel_occupied\"]",
                sink.url("/hooks")
            ),
        )
    );
    let gateway = Gateway::start(&config);
    let body = batch(&[json!({"name": "channel_occupied", "channel": "c"})]);
    let signature = switchyard::signature::sign(SECRET, body.as_bytes());
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
    let tampered = [("X-Pusher-Key", KEY), ("X-Pusher-Signature", "11")];
    assert_eq!(
        post_raw(&gateway, &tampered, body.clone().into_bytes()).0,
        401
    );
    let delivered = sink.expect(2);
    let id = delivered[0].delivery_id().to_owned();
    let line = gateway.wait_for_log(&["delivery failed", &id]);
    let failed: serde_json::Value = serde_json::from_str(&line).unwrap();
    let fields = &failed;
    for (field, want) in [
        ("app", json!("app-1")),
        ("webhook", json!("hooks")),
        ("delivery", json!(id)),
        ("attempt", json!(1)),
        ("status", json!(500)),
    ] {
        assert_eq!(fields[field], want, "{field} in {line}");
    }
    assert!(fields["next_attempt_ms"].as_u64().is_some(), "{line}");
    let refused = gateway.wait_for_log(&["ingest refused"]);
    assert!(refused.contains("\"app\":\"app-1\""), "{refused}");
    let sent_signatures: Vec<&str> = delivered
        .iter()
        .map(|r| r.header("x-pusher-signature"))
        .collect();
    let logs = gateway.logs().join("\n");
    for secret in [
        SECRET,
        token,
        &signature,
        sent_signatures[0],
        sent_signatures[1],
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} appears in the logs:\n{logs}"
        );
    }
}

#[test]
fn logs_are_json_when_the_config_says_so_and_human_otherwise() {
    use std::io::{BufRead, BufReader};
    let first_line = |log: &str| {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("switchyard.toml");
        let app = "[[apps]]\nid = \"a\"\nkey = \"k\"\nsecret = \"s\"\n[[apps.webhooks]]\nurl = \"http://127.0.0.1:9/x\"\nevent_types = [\"client_event\"]\n";
        let listeners = "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n";
        std::fs::write(&config, format!("{listeners}{log}\n{app}")).unwrap();
        let mut child = crate::support::ChildGuard(
            Command::new(crate::support::binary())
                .args(["run", "--config"])
                .arg(&config)
                .env_remove("SWITCHYARD_LOG_FORMAT")
                .env("RUST_LOG", "info")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = child.0.stderr.take().unwrap();
        BufReader::new(stderr).lines().next().unwrap().unwrap()
    };
    let json = first_line("[log]\nformat = \"json\"");
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("a JSON line");
    assert_eq!(parsed["level"], "INFO", "{json}");
    let human = first_line("");
    assert!(
        serde_json::from_str::<serde_json::Value>(&human).is_err(),
        "{human}"
    );
    assert!(human.contains("INFO"), "{human}");
}
