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

    let requests =
        |labels: &[(&str, &str)]| gateway.metric_sum("switchyard_ingest_requests_total", labels);
    assert_eq!(requests(&[("outcome", "unauthorized")]), 4.0);
    assert_eq!(
        requests(&[("app", ""), ("outcome", "unauthorized")]),
        2.0,
        "a missing or unknown key names no app"
    );
    assert_eq!(requests(&[("outcome", "malformed")]), 4.0);
    assert_eq!(requests(&[("app", "app-1"), ("outcome", "accepted")]), 1.0);
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

/// Writes a whole raw HTTP/1.1 request (head, then body in 64 KiB writes), then reads the
/// answer's status line. An error anywhere (a reset while still sending) is returned.
fn raw_exchange(gateway: &Gateway, head: &str, body: &[u8]) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(gateway.addr)?;
    stream.set_read_timeout(Some(crate::support::PATIENCE))?;
    stream.write_all(head.as_bytes())?;
    for chunk in body.chunks(64 << 10) {
        stream.write_all(chunk)?;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn an_oversized_body_always_gets_its_413_with_or_without_content_length() {
    let sink = Sink::start(SECRET, KEY);
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"client_event\"]",
        sink.url("/hook")
    );
    let gateway = Gateway::start(&one_app_config("", &webhook));
    // 2 MiB against the default limit of 1 MiB, as a client writes it before reading.
    let body = vec![b' '; 2 << 20];
    let sized = format!(
        "POST /ingest/pusher HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nX-Pusher-Key: {KEY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut chunked_body = Vec::new();
    for chunk in body.chunks(100_000) {
        chunked_body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked_body.extend_from_slice(chunk);
        chunked_body.extend_from_slice(b"\r\n");
    }
    chunked_body.extend_from_slice(b"0\r\n\r\n");
    let chunked = format!(
        "POST /ingest/pusher HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nX-Pusher-Key: {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    for round in 0..20 {
        for (what, head, body) in [
            ("sized", &sized, &body),
            ("chunked", &chunked, &chunked_body),
        ] {
            let status = raw_exchange(&gateway, head, body)
                .unwrap_or_else(|e| panic!("round {round}, {what}: no answer to read: {e}"));
            assert!(
                status.starts_with("HTTP/1.1 413"),
                "round {round}, {what}: {status}"
            );
        }
    }
    let too_large = [("outcome", "too_large")];
    assert_eq!(
        gateway.metric_sum("switchyard_ingest_requests_total", &too_large),
        40.0
    );
}

#[test]
fn trickling_and_idle_connections_are_cut_off_while_real_requests_are_served() {
    use std::io::{Read, Write};
    let sink = Sink::start(SECRET, KEY);
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"client_event\"]",
        sink.url("/hook")
    );
    let server = "header_read_timeout_ms = 1000\nbody_read_timeout_ms = 1000";
    let gateway = Gateway::start(&one_app_config(server, &webhook));
    // 300 connections that send half a header line, and one that sends a head but only
    // half of its declared body.
    let mut tricklers: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(gateway.addr).unwrap();
            stream.write_all(b"POST /ingest/pus").unwrap();
            stream
        })
        .collect();
    let mut slow_body = std::net::TcpStream::connect(gateway.addr).unwrap();
    write!(
        slow_body,
        "POST /ingest/pusher HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nX-Pusher-Key: {KEY}\r\nContent-Length: 100\r\n\r\n{{\"time_ms\""
    )
    .unwrap();
    // Meanwhile a real client is served.
    let body = batch(&[json!({"name": "client_event", "channel": "c", "event": "client-x"})]);
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
    assert_eq!(sink.expect(1).len(), 1);
    // The slow body gets its 408; every trickler is closed (EOF or reset) by the server.
    slow_body
        .set_read_timeout(Some(crate::support::PATIENCE))
        .unwrap();
    let mut answer = String::new();
    let _ = slow_body.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    for (i, stream) in tricklers.iter_mut().enumerate() {
        stream
            .set_read_timeout(Some(crate::support::PATIENCE))
            .unwrap();
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection {i} was not closed by the gateway: {e}"),
        }
    }
    // And it still serves.
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
}

#[test]
fn past_max_connections_a_new_one_waits_until_a_slot_frees() {
    use std::io::Write;
    let sink = Sink::start(SECRET, KEY);
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"client_event\"]",
        sink.url("/hook")
    );
    let server = "header_read_timeout_ms = 1500\nmax_connections = 8";
    let gateway = Gateway::start(&one_app_config(server, &webhook));
    let started = std::time::Instant::now();
    let _hogs: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(gateway.addr).unwrap();
            stream.write_all(b"POS").unwrap();
            stream
        })
        .collect();
    // The ninth is taken only when the hogs are cut off by the header timeout.
    let body = batch(&[json!({"name": "client_event", "channel": "c", "event": "client-x"})]);
    assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "served before a slot was free"
    );
}

#[test]
fn at_capacity_a_request_is_answered_503_at_once_and_loses_nothing() {
    let sink = Sink::start(SECRET, KEY);
    // One place for requests being stored, held 300 ms by a filter that spins to its deadline
    // on events of the channel `misbehave` (then passes them on).
    let module = crate::guests::wasm("filter-hostile-misbehave");
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"client_event\"]\nfilters = [{{ module = \"{}\", params = {{ misbehave = \"loop\" }}, on_error = \"pass\" }}]",
        sink.url("/hook"),
        module.display()
    );
    let settings = "max_ingest_in_flight = 1\n\n[filters]\ncall_timeout_ms = 300";
    let gateway = std::sync::Arc::new(Gateway::start(&one_app_config(settings, &webhook)));
    let slow =
        batch(&[json!({"name": "client_event", "channel": "misbehave", "event": "client-x"})]);
    let holder = {
        let gateway = gateway.clone();
        std::thread::spawn(move || post_signed(&gateway, KEY, SECRET, &slow).0)
    };
    // While that one is routed, another is refused at once, and says when to retry.
    let quick = batch(&[json!({"name": "client_event", "channel": "c", "event": "client-x"})]);
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    let refused = loop {
        let (status, retry_after, body) =
            crate::support::post_signed_with_retry_after(&gateway, &quick);
        if status == 503 {
            break (retry_after, body);
        }
        assert_eq!(status, 200, "{body}");
        assert!(std::time::Instant::now() < deadline, "never at capacity");
    };
    assert_eq!(refused.0.as_deref(), Some("1"));
    assert!(refused.1.contains("at capacity"), "{}", refused.1);
    assert_eq!(
        holder.join().unwrap(),
        200,
        "the request holding the place is stored"
    );
    let busy = [("outcome", "busy")];
    assert!(gateway.metric_sum("switchyard_ingest_requests_total", &busy) >= 1.0);
    // What was acknowledged is delivered; the refused one was not stored.
    gateway.wait_until_delivered();
    let accepted = r#"switchyard_ingest_requests_total{app="app-1",outcome="accepted"}"#;
    let delivered = r#"switchyard_events_delivered_total{app="app-1",webhook="#;
    let text = reqwest::blocking::get(gateway.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let value = |prefix: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value(accepted), value(delivered));
}
