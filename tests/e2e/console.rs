//! The web console in a real browser (Debian's chromium driven by playwright-core, the scripts
//! in tests/console/), against the real binary and a real receiver: what the page shows, what
//! its buttons do (checked here, at the receiver and through the API), and who it refuses.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    BrowserScript, FAST_RETRIES, Gateway, KEY, PATIENCE, SECRET, Sink, batch, client,
    one_app_config, post_signed, repo_root, write_atomically,
};

/// A webhook `id` delivering `event_type` events to the sink's `/<id>`.
fn hook(id: &str, sink: &Sink, event_type: &str) -> String {
    format!(
        "\n[[apps.webhooks]]\nid = \"{id}\"\nurl = \"{}\"\nevent_types = [\"{event_type}\"]\n",
        sink.url(&format!("/{id}"))
    )
}

/// Posts one client event carrying `data` on `channel`; ingest must take it.
fn send(gateway: &Gateway, channel: &str, data: &str) {
    let event =
        json!({"name": "client_event", "channel": channel, "event": "client-x", "data": data});
    let (status, answer) = post_signed(gateway, KEY, SECRET, &batch(&[event]));
    assert_eq!(status, 200, "{answer}");
}

/// `GET path` from the admin listener, with the bearer token when one is set.
fn admin_json(gateway: &Gateway, path: &str, token: Option<&str>) -> Value {
    let mut request = client().get(gateway.admin_url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    serde_json::from_str(&response.text().unwrap()).unwrap()
}

/// Waits until `GET path` satisfies `done`; returns that answer.
fn wait_for_admin(
    gateway: &Gateway,
    path: &str,
    token: Option<&str>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = admin_json(gateway, path, token);
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {answer:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dead_letter_count(gateway: &Gateway, webhook: &str, token: Option<&str>) -> usize {
    let listed = admin_json(gateway, &format!("/dlq?webhook={webhook}"), token);
    listed["dead_letters"].as_array().unwrap().len()
}

/// Each webhook of the overview by id.
fn overview_webhook(overview: &Value, id: &str) -> Value {
    overview["apps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|app| app["webhooks"].as_array().unwrap())
        .find(|w| w["id"] == id)
        .unwrap_or_else(|| panic!("no webhook {id} in {overview:#}"))
        .clone()
}

/// The `data` of every event in `received`, in order.
fn delivered_data(received: &[crate::support::Received]) -> Vec<String> {
    received.iter().flat_map(|r| r.event_data()).collect()
}

fn console_url(gateway: &Gateway) -> String {
    gateway.admin_url("/")
}

#[test]
fn a_failing_webhook_its_dead_letters_and_their_replay_from_the_console() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 400}));
    let gateway = Gateway::start(&one_app_config(
        FAST_RETRIES,
        &hook("hooks", &sink, "client_event"),
    ));
    // One at a time, so each is its own delivery and dead letter.
    for n in 1..=3 {
        send(&gateway, "private-a", &format!("event-{n}"));
        wait_for_admin(&gateway, "/dlq", None, "the dead letter", |v| {
            v["dead_letters"].as_array().unwrap().len() == n
        });
    }
    assert!(sink.expect(3).iter().all(|r| r.status == 400));

    let url = console_url(&gateway);
    let mut script = BrowserScript::start(
        "replay",
        &[
            ("CONSOLE_URL", &url),
            ("APP", "app-1"),
            ("WEBHOOK", "hooks"),
            ("DEAD_LETTERS", "3"),
        ],
    );
    script.reached("listed");
    sink.recover("/hooks");
    script.go_on();

    script.reached("replayed");
    // The first replayed from its page, the second as a selection; the third was purged.
    let got = sink.until("the two replays", |got| delivered_data(got).len() >= 2);
    assert_eq!(delivered_data(&got), ["event-1", "event-2"]);
    assert!(
        got.iter()
            .all(|r| r.status == 200 && r.js_signature_ok == Some(true))
    );
    sink.assert_nothing_more(&gateway);
    assert_eq!(dead_letter_count(&gateway, "hooks", None), 0);
    script.go_on();
    script.finish();
}

#[test]
fn a_refused_reload_shows_its_error_on_the_overview() {
    let sink = Sink::start(SECRET, KEY);
    let gateway = Gateway::start(&one_app_config("", &hook("hooks", &sink, "client_event")));
    let text = std::fs::read_to_string(&gateway.config).unwrap();
    let hash = admin_json(&gateway, "/overview", None)["config"]["hash"]
        .as_str()
        .unwrap()
        .to_owned();

    let url = console_url(&gateway);
    let mut script = BrowserScript::start(
        "reload",
        &[
            ("CONSOLE_URL", &url),
            ("CONFIG_HASH", &hash),
            ("EXPECTED_ERROR", "apps[0].webhooks[0].event_types[0]"),
        ],
    );
    script.reached("watching");
    write_atomically(
        &gateway.config,
        &text.replace("\"client_event\"", "\"client_evnt\""),
    );
    wait_for_admin(&gateway, "/overview", None, "the refused reload", |v| {
        v["reload_counts"]["failed"] == 1
    });
    script.go_on();
    script.finish();
}

#[test]
fn pausing_from_the_console_holds_deliveries_and_resuming_releases_them_in_order() {
    let sink = Sink::start(SECRET, KEY);
    let gateway = Gateway::start(&one_app_config(
        FAST_RETRIES,
        &hook("hooks", &sink, "client_event"),
    ));
    let url = console_url(&gateway);
    let mut script = BrowserScript::start(
        "pause",
        &[
            ("CONSOLE_URL", &url),
            ("APP", "app-1"),
            ("WEBHOOK", "hooks"),
            ("HELD_EVENTS", "3"),
        ],
    );

    script.reached("paused");
    let webhook = admin_json(&gateway, "/webhooks/app-1/hooks", None);
    assert_eq!(webhook["paused"], true, "{webhook:#}");
    for n in 1..=3 {
        send(&gateway, "private-a", &format!("event-{n}"));
    }
    if let Some(early) = sink.next_within(Duration::from_secs(3)) {
        panic!("a paused webhook delivered: {:?}", early.event_data());
    }
    wait_for_admin(&gateway, "/overview", None, "three events held", |v| {
        overview_webhook(v, "hooks")["queue"]["events"] == 3
    });
    script.go_on();

    script.reached("resumed");
    let got = sink.until("the held events", |got| delivered_data(got).len() >= 3);
    assert_eq!(delivered_data(&got), ["event-1", "event-2", "event-3"]);
    assert!(got.iter().all(|r| r.status == 200));
    let audit = admin_json(&gateway, "/audit", None);
    for action in ["pause", "resume"] {
        assert!(
            (audit["actions"].as_array().unwrap().iter())
                .any(|a| a["action"] == action && a["target"] == "app-1/hooks"),
            "{action} is recorded: {audit:#}"
        );
    }
    script.go_on();
    script.finish();
}

#[test]
fn with_a_token_the_console_refuses_strangers_and_cross_site_posts() {
    let token = "console-t0ken-5ecret";
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/hooks", json!({"status": 400}));
    let admin = format!("[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{token}\"\n\n");
    let config = one_app_config(FAST_RETRIES, &hook("hooks", &sink, "client_event"));
    let gateway = Gateway::start(&format!("{admin}{config}"));
    send(&gateway, "private-a", "event-1");
    wait_for_admin(&gateway, "/dlq", Some(token), "the dead letter", |v| {
        v["dead_letters"].as_array().unwrap().len() == 1
    });

    // Without the token: the sign-in page and a JSON refusal, never the data.
    let page = client().get(gateway.admin_url("/")).send().unwrap();
    assert_eq!(page.status(), 401);
    let html = page.text().unwrap();
    assert!(
        html.contains("name=\"token\"") && !html.contains("hooks"),
        "{html}"
    );
    for path in ["/overview", "/webhooks/app-1/hooks", "/audit", "/filters"] {
        let refused = client().get(gateway.admin_url(path)).send().unwrap();
        assert_eq!(refused.status(), 401, "{path}");
        let body: Value = serde_json::from_str(&refused.text().unwrap()).unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    assert_eq!(
        client()
            .post(gateway.admin_url("/webhooks/app-1/hooks/pause"))
            .send()
            .unwrap()
            .status(),
        401
    );

    let url = console_url(&gateway);
    let mut script = BrowserScript::start(
        "auth",
        &[
            ("CONSOLE_URL", &url),
            ("TOKEN", token),
            ("APP", "app-1"),
            ("WEBHOOK", "hooks"),
        ],
    );
    script.reached("cross-site");
    // The cross-site posts changed nothing.
    assert_eq!(dead_letter_count(&gateway, "hooks", Some(token)), 1);
    let webhook = admin_json(&gateway, "/webhooks/app-1/hooks", Some(token));
    assert_eq!(webhook["paused"], false, "{webhook:#}");
    let audit = admin_json(&gateway, "/audit", Some(token));
    assert!(
        !audit["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "purge" || a["action"] == "pause"),
        "{audit:#}"
    );
    script.go_on();
    script.finish();
    // The pause the signed-in page made went through, as the console.
    let webhook = admin_json(&gateway, "/webhooks/app-1/hooks", Some(token));
    assert_eq!(webhook["paused"], true, "{webhook:#}");
    assert_eq!(webhook["paused_by"], "console", "{webhook:#}");
}

/// Where the screenshots go: `SWITCHYARD_SCREENSHOTS` (relative to the repository root), or a
/// temporary directory kept while the test runs.
fn screenshot_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("SWITCHYARD_SCREENSHOTS") {
        Some(dir) => {
            let dir = repo_root().join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            (dir, None)
        }
        None => {
            let temp = tempfile::tempdir().unwrap();
            (temp.path().to_owned(), Some(temp))
        }
    }
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "{} is not a screenshot ({} bytes)",
        path.display(),
        bytes.len()
    );
}

#[test]
fn screenshots_at_desktop_and_phone_width() {
    let sink = Sink::start(SECRET, KEY);
    sink.behave("/billing", json!({"status": 503}));
    sink.behave("/crm", json!({"status": 400}));
    let webhooks = [
        hook("presence", &sink, "member_added"),
        hook("billing", &sink, "client_event"),
        hook("crm", &sink, "channel_occupied"),
    ]
    .concat();
    let gateway = Gateway::start(&one_app_config(FAST_RETRIES, &webhooks));
    let (dir, temp) = screenshot_dir();
    // Traffic: deliveries to `presence`, failures to `billing`, dead letters for `crm`. For the
    // docs' screenshots, long enough to fill a few of the charts' 5 s periods.
    let rounds = if temp.is_none() { 60 } else { 12 };
    for n in 0..rounds {
        let mut events = vec![
            json!({"name": "member_added", "channel": "presence-lobby", "user_id": n.to_string()}),
            json!({"name": "client_event", "channel": format!("private-order-{}", n % 3), "event": "client-paid", "data": format!("{{\"order\":{n}}}")}),
        ];
        if n % 4 == 0 {
            events
                .push(json!({"name": "channel_occupied", "channel": format!("private-deal-{n}")}));
        }
        let (status, answer) = post_signed(&gateway, KEY, SECRET, &batch(&events));
        assert_eq!(status, 200, "{answer}");
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_for_admin(
        &gateway,
        "/dlq?webhook=crm",
        None,
        "crm's dead letters",
        |v| v["dead_letters"].as_array().unwrap().len() == rounds / 4,
    );
    // And a refused reload, shown first on the overview.
    let text = std::fs::read_to_string(&gateway.config).unwrap();
    write_atomically(
        &gateway.config,
        &text.replace("\"member_added\"", "\"member_addded\""),
    );
    wait_for_admin(&gateway, "/overview", None, "the refused reload", |v| {
        v["reload_counts"]["failed"] == 1
    });

    let url = console_url(&gateway);
    let script = BrowserScript::start(
        "screenshots",
        &[
            ("CONSOLE_URL", &url),
            ("SCREENSHOT_DIR", dir.to_str().unwrap()),
            ("APP", "app-1"),
            ("FAILING_WEBHOOK", "billing"),
            ("DEAD_WEBHOOK", "crm"),
        ],
    );
    script.finish();
    for page in ["overview", "webhook", "dead-letters"] {
        for size in ["desktop", "phone"] {
            assert_png(&dir.join(format!("{page}-{size}.png")));
        }
    }
}
