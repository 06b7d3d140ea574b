//! The command line: `check` reports every problem, `run` refuses a broken config, `send`
//! posts a signed webhook the gateway accepts.

use crate::support::{Gateway, KEY, SECRET, Sink, one_app_config, repo_root, run_cli};

#[test]
fn check_reports_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    let config = serde_json::json!({
        "apps": [
            {
                "id": "a", "key": "k", "secret": "s", "maxConnections": 100,
                "webhooks": [
                    { "url": "ftp://example/x", "event_types": ["channel_ocupied"] },
                    { "url": "http://127.0.0.1:1/x", "lambda_function": "f", "event_types": ["client_event"] },
                    { "event_types": ["member_added"] },
                    { "url": "http://127.0.0.1:1/x", "event_types": ["client_event"],
                      "filter": { "channel_name_startswith": "private-" },
                      "headers": { "X-Pusher-Signature": "forged" } }
                ]
            },
            { "id": "a", "key": "k", "secret": "s2" }
        ]
    });
    std::fs::write(&path, config.to_string()).unwrap();
    let (code, out) = run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    let expected = [
        "apps[0].webhooks[0].url: `ftp://example/x` must be an http:// or https:// URL",
        "apps[0].webhooks[0].event_types[0]: unknown event type `channel_ocupied` (did you mean `channel_occupied`?)",
        "apps[0].webhooks[1]: set either `url` or `lambda_function`, not both",
        "apps[0].webhooks[2]: a webhook needs a `url` or a `lambda_function`",
        "apps[0].webhooks[3].filter.channel_name_startswith: unknown field (did you mean `channel_name_starts_with`?)",
        "apps[0].webhooks[3].headers.X-Pusher-Signature: is set by the gateway",
        "apps[1].id: duplicate app id `a`",
        "apps[1].key: duplicate app key `k`",
    ];
    for line in expected {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }

    let (code, out) = run_cli(&["run", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "run must refuse a broken config");
    assert!(out.contains("duplicate app key"), "{out}");
}

#[test]
fn check_accepts_the_example_configs_and_reports_ignored_soketi_fields() {
    let (code, out) = run_cli(&[
        "check",
        "--config",
        repo_root().join("config/switchyard.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok"), "{out}");

    let (code, out) = run_cli(&[
        "check",
        "--config",
        repo_root().join("config/soketi-app.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: apps[0].maxConnections: ignored"),
        "{out}"
    );
    assert!(
        out.contains("warning: apps[0].enableClientMessages: ignored"),
        "{out}"
    );
}

#[test]
fn send_posts_a_signed_webhook_the_gateway_delivers() {
    let sink = Sink::start(SECRET, KEY);
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"client_event\"]",
        sink.url("/hook")
    );
    let gateway = Gateway::start(&one_app_config("", &webhook));
    let config_path = gateway.dir.path().join("switchyard.toml");
    let ingest = gateway.url("/ingest/pusher");
    let (code, out) = run_cli(&[
        "send",
        "--config",
        config_path.to_str().unwrap(),
        "--app",
        "app-1",
        "--event",
        "client_event",
        "--channel",
        "private-chat",
        "--client-event",
        "client-typing",
        "--data",
        "{\"typing\":true}",
        "--user-id",
        "7",
        "--to",
        &ingest,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("200"), "{out}");
    let got = sink.expect(1);
    let event = &got[0].json()["events"][0];
    assert_eq!(event["event"], "client-typing");
    assert_eq!(event["data"], "{\"typing\":true}");
    assert_eq!(event["user_id"], "7");
    assert_eq!(got[0].js_signature_ok, Some(true));
    sink.assert_nothing_more(&gateway);

    let (code, out) = run_cli(&[
        "send",
        "--config",
        config_path.to_str().unwrap(),
        "--app",
        "nope",
        "--event",
        "client_event",
        "--channel",
        "c",
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("no app `nope`"), "{out}");
}

#[test]
fn logs_are_coloured_only_on_a_terminal() {
    // A port in use makes `run` stop right after logging its config warning.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.json");
    let config = serde_json::json!({
        "server": { "listen": taken.local_addr().unwrap().to_string() },
        "admin": { "listen": "127.0.0.1:0" },
        "apps": [{ "id": "a", "key": "k", "secret": "s", "maxConnections": 100 }]
    });
    std::fs::write(&path, config.to_string()).unwrap();
    let (code, out) = run_cli(&["run", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("WARN"), "a human log line: {out}");
    assert!(out.contains("cannot listen"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "no ANSI escape when stderr is a pipe: {out:?}"
    );
}
