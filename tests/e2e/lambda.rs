//! Lambda targets end to end: the real `switchyard` binary → serverless-offline serving the
//! Lambda Invoke API on loopback → the real Node.js handler of examples/lambda/node, which
//! records what it received and whether its own signature check passed. Assertions are made
//! from the handler's side.

pub mod emulator;
mod rust;
mod wire;

use emulator::{Emulator, GATED_FN, Record, THROWS_FN, WEBHOOKS_FN, js_stringify};

use crate::support::{Gateway, KEY, SECRET, one_app_config, post_signed};

/// Environment for every gateway here: no EC2 metadata lookups (the tests touch nothing but
/// loopback) and no profile files from the machine, so only what a test gives counts.
pub const HERMETIC: [(&str, &str); 3] = [
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/switchyard-test/config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/switchyard-test/credentials",
    ),
];

/// One app (TOML) with `webhooks`, each with one lane: a batch's events for a webhook arrive in
/// one invocation, whatever their channels (with more lanes, one per lane they fall in).
fn config(webhooks: &str) -> String {
    one_app_config("\n[delivery]\nlanes = 1\n", webhooks)
}

/// A Lambda webhook on the emulator with explicit credentials.
fn lambda_webhook(
    id: &str,
    function: &str,
    events: &str,
    asynchronous: bool,
    emulator: &Emulator,
) -> String {
    format!(
        r#"
[[apps.webhooks]]
id = "{id}"
lambda_function = "{function}"
event_types = [{events}]
headers = {{ "X-Tenant" = "acme" }}
lambda = {{ async = {asynchronous}, client_options = {{ region = "eu-central-1", endpoint = "{endpoint}", credentials = {{ accessKeyId = "AKIDEXAMPLE", secretAccessKey = "test-secret-key" }} }} }}
"#,
        endpoint = emulator.endpoint()
    )
}

fn start_gateway(config: &str, extra_env: &[(&str, &str)]) -> Gateway {
    let env: Vec<(&str, &str)> = HERMETIC.iter().chain(extra_env).copied().collect();
    Gateway::start_with(config, "switchyard.toml", &env)
}

/// Posts raw JSON events as one signed batch.
fn send(gateway: &Gateway, events: &[&str]) {
    let body = format!(
        r#"{{"time_ms":{},"events":[{}]}}"#,
        switchyard::clock::now_ms(),
        events.join(",")
    );
    let (status, answer) = post_signed(gateway, KEY, SECRET, &body);
    assert_eq!(status, 200, "{answer}");
}

/// Events that are hard to sign right: unicode (astral, combining, U+2028, a lone surrogate),
/// nested `data`, keys that look like array indexes, numbers JS writes its own way.
const TRICKY_CLIENT_EVENT: &str = r#"{"name":"client_event","channel":"private-chat","event":"client-typing","socket_id":"123.456","user_id":"7","data":"{\"text\":\"héllo ☃ 𝄞 e\u0301 \u2028 \ud800\",\"n\":1e21}","meta":{"z":1,"10":"ten","2":"two","nested":{"deep":[1.0,0.1,-0,1e21,1e-7,12345678901234567890,9007199254740993],"obj":{"b":{"a":[{}]}}}},"name_ü":"\u0007\"\\/"}"#;

const PRESENCE_EVENTS: [&str; 4] = [
    r#"{"name":"member_added","channel":"presence-lobby","user_id":"42"}"#,
    r#"{"name":"member_removed","channel":"presence-lobby","user_id":"42"}"#,
    r#"{"name":"channel_occupied","channel":"presence-lobby"}"#,
    r#"{"name":"channel_vacated","channel":"presence-lobby"}"#,
];

fn expected_events(events: &[&str]) -> String {
    js_stringify(&format!("[{}]", events.join(",")))
}

/// The handler's view of one delivery, checked the way a receiver would.
fn assert_verified(record: &Record) {
    assert_eq!(
        record.signature_ok(),
        Some(true),
        "the handler's own check failed: {record:?}"
    );
    let signature = record
        .header("X-Pusher-Signature")
        .expect("X-Pusher-Signature");
    let signed = record.payload_json();
    assert!(
        switchyard::signature::verify(SECRET, &signed, signature),
        "HMAC of JSON.stringify(payload) does not match: {}",
        String::from_utf8_lossy(&signed)
    );
    assert_eq!(record.header("X-Pusher-Key"), Some(KEY));
    assert_eq!(record.header("Content-Type"), Some("application/json"));
    assert!(
        record
            .header("User-Agent")
            .unwrap()
            .starts_with("Switchyard/")
    );
    assert_eq!(record.header("X-Tenant"), Some("acme"));
}

#[test]
fn each_lambda_webhook_gets_only_its_events_and_the_handlers_signature_check_passes() {
    let emulator = Emulator::start(SECRET);
    let webhooks = [
        lambda_webhook("chat", WEBHOOKS_FN, r#""client_event""#, false, &emulator),
        lambda_webhook(
            "presence",
            WEBHOOKS_FN,
            r#""member_added", "member_removed", "channel_occupied", "channel_vacated""#,
            false,
            &emulator,
        ),
        lambda_webhook(
            "counts",
            WEBHOOKS_FN,
            r#""subscription_count", "cache_miss""#,
            false,
            &emulator,
        ),
    ];
    let gateway = start_gateway(&config(&webhooks.concat()), &[]);
    let counts = [
        r#"{"name":"subscription_count","channel":"private-chat","subscription_count":12345678901234567890}"#,
        r#"{"name":"cache_miss","channel":"cache-feed"}"#,
    ];
    let mut all = vec![TRICKY_CLIENT_EVENT];
    all.extend(PRESENCE_EVENTS);
    all.extend(counts);
    send(&gateway, &all);

    let records = emulator.wait_records(3, |r| r.function() == WEBHOOKS_FN);
    let by_first_event = |name: &str| {
        records
            .iter()
            .find(|r| {
                r.events_json()
                    .starts_with(&format!(r#"[{{"name":"{name}""#))
            })
            .unwrap_or_else(|| panic!("no delivery starting with {name}: {records:?}"))
    };
    let chat = by_first_event("client_event");
    let presence = by_first_event("member_added");
    let count = by_first_event("subscription_count");
    // Exactly each webhook's events, byte for byte as JSON.stringify writes them.
    assert_eq!(chat.events_json(), expected_events(&[TRICKY_CLIENT_EVENT]));
    assert_eq!(presence.events_json(), expected_events(&PRESENCE_EVENTS));
    assert_eq!(count.events_json(), expected_events(&counts));
    for record in [chat, presence, count] {
        assert_verified(record);
        // The header object holds the headers an HTTP delivery carries, in the same order.
        let names = record.header_names();
        assert_eq!(
            names,
            [
                "Accept",
                "Content-Type",
                "User-Agent",
                "X-Tenant",
                "X-Pusher-Key",
                "X-Pusher-Signature",
                "X-Switchyard-Delivery",
                "X-Switchyard-Attempt"
            ]
        );
    }
    // The example handler handled every event type.
    assert_eq!(
        presence.handled(),
        [
            "user 42 joined presence-lobby",
            "user 42 left presence-lobby",
            "presence-lobby is now occupied",
            "presence-lobby is now vacated"
        ]
    );
    assert_eq!(
        chat.handled(),
        ["client event client-typing on private-chat from socket 123.456"]
    );
    assert_eq!(
        count.handled(),
        [
            "private-chat has 12345678901234567000 subscriptions",
            "cache miss on cache-feed"
        ]
    );
    gateway.wait_until_delivered();
    assert_eq!(
        emulator.records().len(),
        3,
        "one invocation per webhook, no more"
    );
    gateway.wait_for_log(&[
        "lambda invoked",
        "\"invocation_type\":\"RequestResponse\"",
        "\"status\":200",
    ]);
    // One client for the three webhooks: same region, endpoint and credentials.
    let built: Vec<_> = gateway
        .logs()
        .into_iter()
        .filter(|l| l.contains("built a Lambda client"))
        .collect();
    assert_eq!(built.len(), 1, "{built:?}");
}

#[test]
fn async_true_is_an_event_invocation_and_async_false_waits_for_the_handler() {
    let emulator = Emulator::start(SECRET);
    let webhooks = [
        lambda_webhook(
            "fire-and-forget",
            GATED_FN,
            r#""channel_occupied""#,
            true,
            &emulator,
        ),
        lambda_webhook(
            "wait-for-it",
            GATED_FN,
            r#""channel_vacated""#,
            false,
            &emulator,
        ),
    ];
    let gateway = start_gateway(&config(&webhooks.concat()), &[]);
    send(&gateway, &[PRESENCE_EVENTS[2], PRESENCE_EVENTS[3]]);

    // Both handlers are running and held at the gate.
    emulator.wait_records(2, Record::is_start);
    // Event: Lambda (the emulator) answered 202 without waiting for the handler.
    let event = gateway.wait_for_log(&[
        "lambda invoked",
        "\"invocation_type\":\"Event\"",
        "\"status\":202",
    ]);
    assert!(event.contains("fire-and-forget"), "{event}");
    // Sent at the same moment, the Event delivery is done while the RequestResponse one, its
    // handler held, still waits.
    gateway.wait_for_metric(
        r#"switchyard_deliveries_total{app="app-1",webhook="fire-and-forget",outcome="delivered"}"#,
        1.0,
    );
    let waiting = r#"switchyard_queue_events{app="app-1",webhook="wait-for-it"}"#;
    assert_eq!(
        gateway.metric(waiting),
        Some(1.0),
        "a RequestResponse call returned before its handler finished"
    );

    emulator.open_gate();
    let sync = gateway.wait_for_log(&[
        "lambda invoked",
        "\"invocation_type\":\"RequestResponse\"",
        "\"status\":200",
    ]);
    assert!(sync.contains("wait-for-it"), "{sync}");
    let done = emulator.wait_records(2, |r| r.signature_ok().is_some());
    for record in &done {
        assert_verified(record);
    }
}

#[test]
fn a_throwing_handler_is_a_failed_delivery_logged_with_the_function_error() {
    let emulator = Emulator::start(SECRET);
    let webhooks = [
        lambda_webhook(
            "thrower",
            THROWS_FN,
            r#""channel_occupied""#,
            false,
            &emulator,
        ),
        lambda_webhook(
            "healthy",
            WEBHOOKS_FN,
            r#""channel_occupied""#,
            false,
            &emulator,
        ),
        lambda_webhook(
            "thrower-final",
            THROWS_FN,
            r#""channel_occupied""#,
            false,
            &emulator,
        ) + "retry = { function_errors = \"dead_letter\" }\n",
    ];
    let gateway = start_gateway(&config(&webhooks.concat()), &[]);
    send(&gateway, &[PRESENCE_EVENTS[2]]);

    // Like a receiver's 500, tried again: the same delivery, attempt 2.
    let thrown = emulator.wait_records(3, |r| r.function() == THROWS_FN);
    let attempts: Vec<(&str, &str)> = thrown
        .iter()
        .map(|r| {
            (
                r.header("X-Switchyard-Delivery").unwrap(),
                r.header("X-Switchyard-Attempt").unwrap(),
            )
        })
        .collect();
    let retried: Vec<_> = attempts.iter().filter(|(_, n)| *n == "2").collect();
    assert_eq!(retried.len(), 1, "{attempts:?}");
    assert!(
        attempts.iter().any(|a| a.0 == retried[0].0 && a.1 == "1"),
        "attempt 2 of the same delivery: {attempts:?}"
    );
    // With `function_errors = "dead_letter"`, the first throw is final.
    let final_throw = gateway.wait_for_log(&["delivery dead-lettered", "thrower-final"]);
    assert!(
        final_throw.contains("\"reason\":\"rejected\""),
        "{final_throw}"
    );
    assert!(
        thrown[0].header("X-Pusher-Signature").is_some(),
        "the throwing handler was invoked with the payload"
    );
    let failed = gateway.wait_for_log(&["delivery failed", "thrower"]);
    assert!(failed.contains("Unhandled"), "{failed}");
    assert!(
        failed.contains("Error: handler exploded on purpose"),
        "the function's error: {failed}"
    );
    assert!(failed.contains(THROWS_FN), "{failed}");
    // The other webhook of the app is delivered regardless.
    let ok = emulator.wait_records(1, |r| r.function() == WEBHOOKS_FN);
    assert_verified(&ok[0]);
    assert!(
        !gateway
            .logs()
            .iter()
            .any(|l| l.contains("delivery failed") && l.contains("healthy"))
    );
    // Counted per webhook: every invocation, and those whose function threw.
    let lambda = |name: &str, webhook: &str| gateway.metric_sum(name, &[("webhook", webhook)]);
    let errors = "switchyard_lambda_function_errors_total";
    let invocations = "switchyard_lambda_invocations_total";
    let counted = |sample: &str, value| {
        gateway.wait_for_metric(
            &format!("{sample}{{app=\"app-1\",webhook=\"{value}\"}}"),
            1.0,
        )
    };
    counted(invocations, "healthy");
    counted(errors, "thrower-final");
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    while lambda(errors, "thrower") < 2.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the thrower's two throws are counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(lambda(errors, "thrower-final"), 1.0);
    assert_eq!(lambda(errors, "healthy"), 0.0);
    assert_eq!(lambda(invocations, "healthy"), 1.0);
    assert!(lambda(invocations, "thrower") >= lambda(errors, "thrower"));
}

#[test]
fn environment_credentials_and_region_from_the_default_chain_work() {
    let emulator = Emulator::start(SECRET);
    // No `credentials`, no region: both come from the gateway's environment.
    let webhook = format!(
        r#"
[[apps.webhooks]]
lambda_function = "{WEBHOOKS_FN}"
event_types = ["member_added"]
lambda = {{ client_options = {{ endpoint = "{}" }} }}
"#,
        emulator.endpoint()
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret-key"),
        ("AWS_REGION", "ap-southeast-2"),
    ];
    let gateway = start_gateway(&config(&webhook), &env);
    send(&gateway, &[PRESENCE_EVENTS[0]]);
    let records = emulator.wait_records(1, |r| r.function() == WEBHOOKS_FN);
    assert_eq!(records[0].signature_ok(), Some(true));
    assert_eq!(
        records[0].events_json(),
        expected_events(&[PRESENCE_EVENTS[0]])
    );
    let built = gateway.wait_for_log(&["built a Lambda client"]);
    assert!(
        built.contains("\"region\":\"ap-southeast-2\"") && built.contains("default chain"),
        "{built}"
    );
}

#[test]
fn a_soketi_webhook_object_with_credentials_and_endpoint_pastes_in_unchanged() {
    let emulator = Emulator::start(SECRET);
    // The object from soketi's docs (plus `async` and `endpoint`), in a JSON config.
    let config = serde_json::json!({
        "server": { "listen": "127.0.0.1:0" },
        "admin": { "listen": "127.0.0.1:0" },
        "delivery": { "lanes": 1 },
        "apps": [{
            "id": "app-1", "key": KEY, "secret": SECRET,
            "webhooks": [{
                "lambda_function": WEBHOOKS_FN,
                "event_types": ["channel_occupied", "client_event"],
                "lambda": {
                    "async": false,
                    "region": "eu-central-1",
                    "client_options": {
                        "region": "eu-central-1",
                        "endpoint": emulator.endpoint(),
                        "credentials": { "accessKeyId": "AKIDSOKETI", "secretAccessKey": "soketi-secret-key", "sessionToken": "soketi-session-token" }
                    }
                }
            }]
        }]
    });
    let env: Vec<_> = HERMETIC.to_vec();
    let gateway = Gateway::start_with(&config.to_string(), "switchyard.json", &env);
    send(
        &gateway,
        &[PRESENCE_EVENTS[2], TRICKY_CLIENT_EVENT, PRESENCE_EVENTS[0]],
    );
    let records = emulator.wait_records(1, |r| r.function() == WEBHOOKS_FN);
    assert_eq!(records[0].signature_ok(), Some(true));
    assert_eq!(
        records[0].events_json(),
        expected_events(&[PRESENCE_EVENTS[2], TRICKY_CLIENT_EVENT])
    );
    let logs = gateway.logs().join("\n");
    assert!(
        !logs.contains("soketi-secret-key") && !logs.contains("soketi-session-token"),
        "secret in logs"
    );
}

#[test]
fn an_unknown_function_is_a_clear_error_naming_it() {
    let emulator = Emulator::start(SECRET);
    let webhooks = lambda_webhook(
        "missing",
        "switchyard-test-nope",
        r#""channel_occupied""#,
        false,
        &emulator,
    );
    let gateway = start_gateway(&config(&webhooks), &[]);
    send(&gateway, &[PRESENCE_EVENTS[2]]);
    let failed = gateway.wait_for_log(&["delivery failed", "missing"]);
    assert!(
        failed.contains("Lambda function `switchyard-test-nope` not found in region eu-central-1"),
        "{failed}"
    );
    // Trying again would not make it exist: dead-lettered at the first attempt.
    let given_up = gateway.wait_for_log(&["delivery dead-lettered", "missing"]);
    assert!(given_up.contains("\"reason\":\"rejected\""), "{given_up}");
    assert!(failed.contains("\"attempt\":1"), "{failed}");
    assert!(emulator.records().is_empty());
}
