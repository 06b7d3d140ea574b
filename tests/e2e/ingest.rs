//! Every refusal of `POST /ingest/pusher`, and that a refused batch delivers nothing.

use serde_json::json;

use crate::support::{Gateway, KEY, SECRET, Sink, batch, one_app_config, post_raw, post_signed};

fn gateway(sink: &Sink) -> Gateway {
    let webhook = format!(
        "[[apps.webhooks]]
url = \"{}\"
event_types = [\"channel_occupied\", \"client_event\"]",
        sink.url("/hook")
    );
    Gateway::start(&one_app_config("max_body_bytes = 2048", &webhook))
}

/// A request the gateway must refuse, and how.
struct Refusal<'a> {
    what: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: Vec<u8>,
    status: u16,
    reason: &'a str,
}

#[test]
fn refusals_have_clear_statuses_and_deliver_nothing() {
    let sink = Sink::start(SECRET, KEY);
    let gateway = gateway(&sink);
    let good = batch(&[json!({"name": "channel_occupied", "channel": "c"})]);
    let good_sig = switchyard::signature::sign(SECRET, good.as_bytes());
    let zero_sig = "0".repeat(64);

    let cases: Vec<Refusal> = vec![
        Refusal {
            what: "unknown key",
            headers: vec![("X-Pusher-Key", "nope"), ("X-Pusher-Signature", &good_sig)],
            body: good.clone().into(),
            status: 401,
            reason: "unknown app key",
        },
        Refusal {
            what: "missing key",
            headers: vec![("X-Pusher-Signature", &good_sig)],
            body: good.clone().into(),
            status: 401,
            reason: "X-Pusher-Key",
        },
        Refusal {
            what: "bad signature",
            headers: vec![("X-Pusher-Key", KEY), ("X-Pusher-Signature", &zero_sig)],
            body: good.clone().into(),
            status: 401,
            reason: "X-Pusher-Signature",
        },
        Refusal {
            what: "missing signature",
            headers: vec![("X-Pusher-Key", KEY)],
            body: good.clone().into(),
            status: 401,
            reason: "X-Pusher-Signature",
        },
        Refusal {
            what: "wrong content type",
            headers: vec![
                ("X-Pusher-Key", KEY),
                ("X-Pusher-Signature", &good_sig),
                ("Content-Type", "text/plain"),
            ],
            body: good.clone().into(),
            status: 415,
            reason: "application/json",
        },
        Refusal {
            what: "too large",
            headers: vec![("X-Pusher-Key", KEY), ("X-Pusher-Signature", &good_sig)],
            body: vec![b' '; 4096],
            status: 413,
            reason: "2048",
        },
    ];
    for Refusal {
        what,
        headers,
        body,
        status,
        reason,
    } in cases
    {
        let (got, answer) = post_raw(&gateway, &headers, body);
        assert_eq!(got, status, "{what}: {answer}");
        assert!(answer.contains(reason), "{what}: {answer}");
    }

    // Signed but malformed: 400 with the reason, nothing partial delivered.
    let malformed = [
        ("{\"time_ms\":1,\"events\":[", "not valid JSON"),
        (
            "{\"time_ms\":1,\"events\":[{\"name\":\"channel_occupied\",\"channel\":\"c\"},{\"name\":1}]}",
            "events[1]",
        ),
        ("{\"events\":[]}", "time_ms"),
        ("[1,2]", "object"),
    ];
    for (body, reason) in malformed {
        let (got, answer) = post_signed(&gateway, KEY, SECRET, body);
        assert_eq!(got, 400, "{body}: {answer}");
        assert!(answer.contains(reason), "{body}: {answer}");
    }
    sink.assert_nothing_more(&gateway);

    // The gateway carries on: a good batch right after is delivered.
    assert_eq!(post_signed(&gateway, KEY, SECRET, &good).0, 200);
    assert_eq!(
        sink.expect(1)[0].event_names(),
        [("channel_occupied".to_string(), "c".to_string())]
    );

    let metrics = reqwest::blocking::get(gateway.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("switchyard_ingest_requests_total{outcome=\"unauthorized\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_ingest_requests_total{outcome=\"malformed\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_ingest_requests_total{outcome=\"accepted\"} 1"),
        "{metrics}"
    );
    let health = reqwest::blocking::get(gateway.url("/healthz")).unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn shutdown_finishes_deliveries_in_flight() {
    let sink = Sink::start(SECRET, KEY);
    let webhook = format!(
        "[[apps.webhooks]]
url = \"{}\"
event_types = [\"channel_occupied\"]",
        sink.url("/slow/800")
    );
    let gateway = Gateway::start(&one_app_config("", &webhook));
    let body = batch(&[json!({"name": "channel_occupied", "channel": "c"})]);
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
    // Stopped while the receiver holds the delivery for 800 ms.
    let stopped = gateway.stop_keeping_data();
    assert!(stopped.status.success(), "clean exit: {:?}", stopped.status);
    assert!(
        stopped.logs.iter().any(|l| l.contains("drained")),
        "the drain finished every attempt in flight: {:#?}",
        stopped.logs
    );
    assert_eq!(sink.expect(1).len(), 1);
    // Recorded as delivered before exit: nothing waits after a restart (an abandoned attempt
    // would still be in the queue, and be sent again).
    let restarted = stopped.restart();
    let waiting = r#"switchyard_queue_events{app="app-1",webhook="#;
    let depth = reqwest::blocking::get(restarted.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let line = depth.lines().find(|l| l.starts_with(waiting)).unwrap();
    assert!(line.ends_with(" 0"), "{line}");
}
