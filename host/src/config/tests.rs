//! Validation: every refusal names its field, every problem is reported at once.

use std::path::Path;

use serde_json::{Value, json};

use super::{Finding, Target, validate};

fn problems(tree: Value) -> Vec<String> {
    match validate(&tree, Path::new("/etc/switchyard")) {
        Ok(_) => Vec::new(),
        Err(found) => found.iter().map(Finding::to_string).collect(),
    }
}

fn app_with(webhook: Value) -> Value {
    json!({ "apps": [{ "id": "a", "key": "k", "secret": "s", "webhooks": [webhook] }] })
}

fn assert_one_problem(tree: Value, expected: &str) {
    let found = problems(tree);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains(expected),
        "`{}` does not contain `{expected}`",
        found[0]
    );
}

#[test]
fn a_soketi_webhook_object_pastes_in_and_means_the_same() {
    let tree = app_with(json!({
        "url": "https://example.com/hooks",
        "event_types": ["channel_occupied", "member_added"],
        "headers": { "X-Tenant": "acme" },
        "filter": { "channel_name_starts_with": "presence-", "channel_name_ends_with": "-room" }
    }));
    let (config, warnings) = validate(&tree, Path::new(".")).unwrap();
    assert!(warnings.is_empty());
    let webhook = &config.apps[0].webhooks[0];
    assert!(
        matches!(&webhook.target, Target::Http(url) if url.as_str() == "https://example.com/hooks")
    );
    assert_eq!(webhook.id, "https://example.com/hooks");
    assert!(webhook.event_types.contains_name("member_added"));
    assert!(!webhook.event_types.contains_name("client_event"));
    assert!(webhook.channel_filter.matches("presence-lobby-room"));
    assert!(!webhook.channel_filter.matches("presence-lobby"));
    assert!(!webhook.channel_filter.matches("private-x-room"));
    assert_eq!(
        webhook.headers,
        [("X-Tenant".to_string(), "acme".to_string())]
    );
}

#[test]
fn lambda_options_follow_soketis_precedence() {
    let tree = app_with(json!({
        "lambda_function": "arn:aws:lambda:eu-central-1:123456789012:function:f:live",
        "event_types": ["client_event"],
        "lambda": { "async": true, "region": "us-west-2",
                    "client_options": { "region": "eu-central-1", "endpoint": "http://127.0.0.1:3002",
                                        "credentials": { "accessKeyId": "AKID", "secretAccessKey": "shh" } } }
    }));
    let (config, _) = validate(&tree, Path::new(".")).unwrap();
    let Target::Lambda(lambda) = &config.apps[0].webhooks[0].target else {
        panic!("expected a Lambda target");
    };
    assert!(lambda.asynchronous);
    assert_eq!(
        lambda.region.as_deref(),
        Some("eu-central-1"),
        "client_options.region wins"
    );
    assert_eq!(
        lambda.endpoint.as_ref().unwrap().as_str(),
        "http://127.0.0.1:3002/"
    );
    assert!(
        !format!("{lambda:?}").contains("shh"),
        "secrets never in Debug output"
    );

    let plain = app_with(json!({ "lambda_function": "f", "event_types": ["client_event"] }));
    let (config, _) = validate(&plain, Path::new(".")).unwrap();
    let Target::Lambda(lambda) = &config.apps[0].webhooks[0].target else {
        panic!("expected a Lambda target");
    };
    assert!(!lambda.asynchronous && lambda.region.is_none() && lambda.credentials.is_none());
}

#[test]
fn each_webhook_error_names_its_field() {
    let base = || json!({ "url": "http://127.0.0.1:9/x", "event_types": ["client_event"] });
    let with = |key: &str, value: Value| {
        let mut webhook = base();
        webhook[key] = value;
        app_with(webhook)
    };
    assert_one_problem(
        with("event_types", json!(["client_event", "membr_added"])),
        "apps[0].webhooks[0].event_types[1]: unknown event type `membr_added` (did you mean `member_added`?)",
    );
    assert_one_problem(
        with("event_types", json!([])),
        "apps[0].webhooks[0].event_types: lists no event type",
    );
    assert_one_problem(
        with("event_types", json!("client_event")),
        "apps[0].webhooks[0].event_types: expected an array",
    );
    assert_one_problem(
        with("url", json!("ftp://x/y")),
        "apps[0].webhooks[0].url: `ftp://x/y` must be an http:// or https:// URL",
    );
    assert_one_problem(
        with("url", json!("not a url")),
        "apps[0].webhooks[0].url: `not a url` is not a URL",
    );
    assert_one_problem(
        with("lambda_function", json!("f")),
        "apps[0].webhooks[0]: set either `url` or `lambda_function`, not both",
    );
    assert_one_problem(
        with("lambda", json!({ "async": true })),
        "apps[0].webhooks[0].lambda: `lambda` options only apply to a `lambda_function` webhook",
    );
    assert_one_problem(
        with("filter", json!({ "channel_name_start_with": "x" })),
        "apps[0].webhooks[0].filter.channel_name_start_with: unknown field (did you mean `channel_name_starts_with`?)",
    );
    assert_one_problem(
        with("headers", json!({ "x-pusher-key": "forged" })),
        "apps[0].webhooks[0].headers.x-pusher-key: is set by the gateway",
    );
    assert_one_problem(
        with("headers", json!({ "Bad Header": "v" })),
        "apps[0].webhooks[0].headers.Bad Header: not a valid HTTP header",
    );
    assert_one_problem(
        with("evnet_types", json!([])),
        "apps[0].webhooks[0].evnet_types: unknown field (did you mean `event_types`?)",
    );
    assert_one_problem(
        app_with(json!({ "event_types": ["client_event"] })),
        "apps[0].webhooks[0]: a webhook needs a `url` or a `lambda_function`",
    );
    assert_one_problem(
        with(
            "filters",
            json!([{ "module": "f.wasm", "on_error": "retry" }]),
        ),
        "apps[0].webhooks[0].filters[0].on_error: unknown on_error `retry` (valid: drop, pass, dead_letter)",
    );
}

#[test]
fn app_and_server_errors_name_their_field() {
    let app = |id: &str, key: &str| json!({ "id": id, "key": key, "secret": "s" });
    let found = problems(json!({ "apps": [app("a", "k"), app("a", "k2"), app("b", "k")] }));
    assert_eq!(
        found,
        [
            "apps[1].id: duplicate app id `a`",
            "apps[2].key: duplicate app key `k`"
        ]
    );
    assert_one_problem(json!({ "apps": [] }), "apps: at least one app is required");
    assert_one_problem(json!({}), "apps: at least one app is required");
    assert_one_problem(
        json!({ "apps": [{ "id": "a", "key": "k" }] }),
        "apps[0].secret: is required",
    );
    assert_one_problem(
        json!({ "apps": [{ "id": "", "key": "k", "secret": "s" }] }),
        "apps[0].id: must not be empty",
    );
    assert_one_problem(
        json!({ "server": { "listen": "localhost" }, "apps": [app("a", "k")] }),
        "server.listen: `localhost` is not an address like 127.0.0.1:7700",
    );
    assert_one_problem(
        json!({ "delivery": { "timeout_ms": 0 }, "apps": [app("a", "k")] }),
        "delivery.timeout_ms: expected an integer from 1 to 900000",
    );
    assert_one_problem(
        json!({ "sever": {}, "apps": [app("a", "k")] }),
        "sever: unknown field (did you mean `server`?)",
    );
}

#[test]
fn every_problem_is_reported_at_once_and_soketi_settings_are_warnings() {
    let tree = json!({ "apps": [{
        "id": "a", "key": "k", "secret": "s", "maxConnections": 100, "enableClientMessages": true,
        "webhooks": [
            { "url": "ftp://x", "event_types": ["nope"] },
            { "event_types": ["client_event"] }
        ]
    }]});
    assert_eq!(
        problems(tree.clone()).len(),
        3,
        "{:#?}",
        problems(tree.clone())
    );
    let fixed = json!({ "apps": [{ "id": "a", "key": "k", "secret": "s", "maxConnections": 100, "enableClientMessages": true }]});
    let (_, warnings) = validate(&fixed, Path::new(".")).unwrap();
    let warnings: Vec<String> = warnings.iter().map(Finding::to_string).collect();
    assert_eq!(
        warnings,
        [
            "apps[0].maxConnections: ignored: a soketi setting that does not concern webhooks",
            "apps[0].enableClientMessages: ignored: a soketi setting that does not concern webhooks",
        ]
    );
}

#[test]
fn webhook_ids_are_stable_and_distinct_and_filter_paths_resolve_against_the_config() {
    let tree = json!({ "apps": [{ "id": "a", "key": "k", "secret": "s", "webhooks": [
        { "url": "http://h/x", "event_types": ["client_event"] },
        { "url": "http://h/x", "event_types": ["member_added"] },
        { "id": "named", "url": "http://h/y", "event_types": ["member_added"],
          "filters": [{ "module": "filters/only-vip.wasm", "params": { "users": ["7"] } }] }
    ]}]});
    let (config, _) = validate(&tree, Path::new("/etc/switchyard")).unwrap();
    let ids: Vec<&str> = config.apps[0]
        .webhooks
        .iter()
        .map(|w| w.id.as_str())
        .collect();
    assert_eq!(ids, ["http://h/x", "http://h/x#2", "named"]);
    let filter = &config.apps[0].webhooks[2].filters[0];
    assert_eq!(filter.name, "only-vip");
    assert_eq!(
        filter.module,
        Path::new("/etc/switchyard/filters/only-vip.wasm")
    );
    assert_eq!(filter.params, json!({ "users": ["7"] }));
}

/// Every numeric setting, where it is written, and the range it must be in.
const BOUNDS: &[(&str, u64, u64)] = &[
    ("/server/max_body_bytes", 1, 256 << 20),
    ("/server/header_read_timeout_ms", 100, 600_000),
    ("/server/body_read_timeout_ms", 100, 600_000),
    ("/server/max_connections", 1, 1_000_000),
    ("/server/max_ingest_in_flight", 1, 100_000),
    ("/server/shutdown_delay_ms", 0, 600_000),
    ("/delivery/timeout_ms", 1, 900_000),
    ("/delivery/lanes", 1, 1024),
    ("/delivery/max_in_flight_per_webhook", 1, 1024),
    ("/delivery/retry/initial_interval_ms", 1, 86_400_000),
    ("/delivery/retry/max_interval_ms", 1, 7 * 86_400_000),
    ("/delivery/retry/max_age_ms", 1, 30 * 86_400_000),
    ("/delivery/retry/open_circuit_after", 1, 1_000_000),
    ("/filters/call_timeout_ms", 1, 60_000),
    ("/filters/memory_limit_mib", 1, 4096),
    ("/filters/instances_per_filter", 1, 256),
    ("/queue/max_bytes", 1024, 1 << 50),
    ("/apps/0/batching/window_ms", 0, 60_000),
    ("/apps/0/batching/max_events", 1, 10_000),
    ("/apps/0/batching/max_bytes", 1024, 64 << 20),
    ("/apps/0/dedupe_window_ms", 1, 86_400_000),
    ("/apps/0/retry/max_age_ms", 1, 30 * 86_400_000),
    ("/apps/0/webhooks/0/lanes", 1, 1024),
    (
        "/apps/0/webhooks/0/retry/initial_interval_ms",
        1,
        86_400_000,
    ),
];

/// A valid config with `value` at `pointer` (tables created as needed). An interval is set
/// with its partner beside it (the widest `max_interval_ms`, the shortest
/// `initial_interval_ms`), so only the bound under test can refuse it.
fn with_setting(pointer: &str, value: u64) -> Value {
    let mut tree =
        app_with(json!({ "url": "http://127.0.0.1:9/x", "event_types": ["client_event"] }));
    let mut node = &mut tree;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for part in &parts[..parts.len() - 1] {
        node = match part.parse::<usize>() {
            Ok(i) => &mut node[i],
            Err(_) => {
                let object = node.as_object_mut().unwrap();
                object.entry(*part).or_insert_with(|| json!({}))
            }
        };
    }
    node[parts[parts.len() - 1]] = json!(value);
    if pointer.ends_with("initial_interval_ms") {
        node["max_interval_ms"] = json!(7 * 86_400_000_u64);
    }
    if pointer.ends_with("max_interval_ms") {
        node["initial_interval_ms"] = json!(1);
    }
    tree
}

#[test]
fn every_numeric_setting_is_bounded_and_the_refusal_names_its_field() {
    for (pointer, min, max) in BOUNDS {
        let path = pointer
            .trim_start_matches('/')
            .split('/')
            .fold(String::new(), |path, part| match part.parse::<usize>() {
                Ok(i) => format!("{path}[{i}]"),
                Err(_) if path.is_empty() => part.to_owned(),
                Err(_) => format!("{path}.{part}"),
            });
        for ok in [*min, *max] {
            let found = problems(with_setting(pointer, ok));
            assert!(found.is_empty(), "{path} = {ok}: {found:?}");
        }
        let expected = format!("{path}: expected an integer from {min} to {max}");
        for bad in [min.checked_sub(1), max.checked_add(1)]
            .into_iter()
            .flatten()
        {
            assert_one_problem(with_setting(pointer, bad), &expected);
        }
    }
}

#[test]
fn retry_tables_override_field_by_field_and_intervals_must_be_ordered() {
    let tree = json!({
        "delivery": { "lanes": 8, "retry": { "max_age_ms": 60000, "initial_interval_ms": 200 } },
        "apps": [{ "id": "a", "key": "k", "secret": "s",
                   "retry": { "max_age_ms": 30000 },
                   "webhooks": [
                       { "url": "http://h/1", "event_types": ["client_event"] },
                       { "url": "http://h/2", "event_types": ["client_event"], "lanes": 2,
                         "retry": { "function_errors": "dead_letter", "initial_interval_ms": 500 } }
                   ] }]
    });
    let (config, warnings) = validate(&tree, Path::new(".")).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let [first, second] = &config.apps[0].webhooks[..] else {
        panic!("two webhooks");
    };
    assert_eq!(first.lanes, 8, "[delivery] lanes");
    assert_eq!(second.lanes, 2);
    assert_eq!(first.retry.max_age.as_millis(), 30000, "the app's");
    assert_eq!(
        first.retry.initial_interval.as_millis(),
        200,
        "[delivery]'s"
    );
    assert_eq!(second.retry.initial_interval.as_millis(), 500, "its own");
    assert_eq!(second.retry.max_age.as_millis(), 30000);
    assert_eq!(
        second.retry.function_errors,
        crate::queue::FunctionErrors::DeadLetter
    );
    assert_eq!(first.retry.max_interval.as_secs(), 600, "built-in default");

    assert_one_problem(
        json!({ "delivery": { "retry": { "initial_interval_ms": 5000, "max_interval_ms": 1000 } },
                "apps": [{ "id": "a", "key": "k", "secret": "s" }] }),
        "delivery.retry: max_interval_ms (1000 ms) is shorter than initial_interval_ms (5000 ms)",
    );
    assert_one_problem(
        app_with(
            json!({ "url": "http://h/1", "event_types": ["client_event"],
                         "retry": { "function_errors": "ignore" } }),
        ),
        "apps[0].webhooks[0].retry.function_errors: unknown function_errors `ignore` (valid: retry, dead_letter)",
    );
    let old = json!({ "delivery": { "max_in_flight_per_webhook": 4 },
                      "apps": [{ "id": "a", "key": "k", "secret": "s",
                                 "webhooks": [{ "url": "http://h/1", "event_types": ["client_event"] }] }] });
    let (config, warnings) = validate(&old, Path::new(".")).unwrap();
    assert_eq!(config.apps[0].webhooks[0].lanes, 4, "read as lanes");
    assert!(
        warnings[0].to_string().contains("replaced by `lanes`"),
        "{warnings:?}"
    );
}

#[test]
fn the_queue_directory_resolves_against_the_config_and_defaults_beside_it() {
    let app = json!({ "id": "a", "key": "k", "secret": "s" });
    let (config, _) = validate(
        &json!({ "apps": [app.clone()] }),
        Path::new("/etc/switchyard"),
    )
    .unwrap();
    assert_eq!(config.queue.dir, Path::new("/etc/switchyard/data"));
    assert!(config.queue.fsync);
    let tree = json!({ "queue": { "dir": "/var/lib/switchyard", "fsync": false }, "apps": [app] });
    let (config, _) = validate(&tree, Path::new("/etc/switchyard")).unwrap();
    assert_eq!(config.queue.dir, Path::new("/var/lib/switchyard"));
    assert!(!config.queue.fsync);
}

#[test]
fn the_redis_backend_needs_a_usable_url_and_refuses_the_embedded_stores_settings() {
    use crate::queue::{Backend, RedisSettings};
    let app = json!({ "id": "a", "key": "k", "secret": "s" });
    let queue = json!({ "backend": "redis", "url": "redis://:pw@127.0.0.1:6379/2" });
    let (config, _) = validate(
        &json!({ "queue": queue, "apps": [app.clone()] }),
        Path::new("."),
    )
    .unwrap();
    assert_eq!(
        config.queue.backend,
        Backend::Redis(RedisSettings {
            url: "redis://:pw@127.0.0.1:6379/2".into(),
            prefix: "switchyard:".into(),
        })
    );
    assert!(
        !format!("{:?}", config.queue).contains("pw@"),
        "the password stays out of logs"
    );
    let with = |queue: Value| json!({ "queue": queue, "apps": [app.clone()] });
    assert_one_problem(
        with(json!({ "backend": "redis" })),
        "queue.url: is required",
    );
    assert_one_problem(
        with(json!({ "backend": "redis", "url": "http://127.0.0.1" })),
        "queue.url: is not a Redis URL Switchyard can use",
    );
    let tls = json!({ "backend": "redis", "url": "rediss://:pw@redis.internal:6380" });
    assert!(problems(with(tls)).is_empty(), "TLS");
    assert_one_problem(
        with(json!({ "backend": "redis", "url": "redis://127.0.0.1", "fsync": false })),
        "queue.fsync: applies to backend = \"embedded\" only",
    );
    assert_one_problem(
        with(json!({ "prefix": "x:" })),
        "queue.prefix: applies to backend = \"redis\" only",
    );
    assert_one_problem(
        with(json!({ "backend": "postgres" })),
        "queue.backend: is \"postgres\"; it must be \"embedded\" (the default) or \"redis\"",
    );
}

#[test]
fn lanes_default_to_16_or_64_for_one_event_deliveries_unless_set() {
    let lanes_of = |tree: Value| -> Vec<u16> {
        let (config, _) = validate(&tree, Path::new(".")).unwrap();
        config
            .apps
            .iter()
            .map(|app| app.webhooks[0].lanes)
            .collect()
    };
    let apps = json!([
        { "id": "batched", "key": "k1", "secret": "s",
          "webhooks": [{ "url": "http://h/1", "event_types": ["client_event"] }] },
        { "id": "single", "key": "k2", "secret": "s", "batching": { "max_events": 1 },
          "webhooks": [{ "url": "http://h/2", "event_types": ["client_event"] }] },
        { "id": "own", "key": "k3", "secret": "s", "batching": { "max_events": 1 },
          "webhooks": [{ "url": "http://h/3", "event_types": ["client_event"], "lanes": 3 }] }
    ]);
    assert_eq!(lanes_of(json!({ "apps": apps })), [16, 64, 3]);
    let set = json!({ "delivery": { "lanes": 8 }, "apps": apps });
    assert_eq!(lanes_of(set), [8, 8, 3], "[delivery] lanes is the default");
}

#[test]
fn the_log_format_is_human_or_json() {
    let with_log = |log: Value| {
        let mut tree = app_with(json!({ "url": "http://h/1", "event_types": ["client_event"] }));
        tree["log"] = log;
        tree
    };
    let (config, _) = validate(&with_log(json!({ "format": "json" })), Path::new(".")).unwrap();
    assert_eq!(config.log_format, Some(super::LogFormat::Json));
    let (config, _) = validate(
        &app_with(json!({ "url": "http://h/1", "event_types": ["client_event"] })),
        Path::new("."),
    )
    .unwrap();
    assert_eq!(config.log_format, None, "unset: --log-format or human");
    assert_one_problem(
        with_log(json!({ "format": "xml" })),
        "log.format: unknown log format `xml` (valid: human, json)",
    );
}

#[test]
fn signing_is_pusher_unless_set_and_standard_webhooks_needs_a_valid_whsec_secret() {
    use super::Signing;
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let hook = |extra: Value| {
        let mut webhook = json!({ "url": "http://127.0.0.1:9/x", "event_types": ["client_event"] });
        webhook
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        webhook
    };
    // The second webhook of the app, so the paths show which one.
    let second = |extra: Value| {
        json!({ "apps": [{ "id": "a", "key": "k", "secret": "s",
                           "webhooks": [hook(json!({})), hook(extra)] }] })
    };
    let signing_of = |extra: Value| {
        let (config, _) = validate(&second(extra), Path::new(".")).unwrap();
        config.apps[0].webhooks[1].signing.clone()
    };
    assert_eq!(signing_of(json!({})), Signing::Pusher);
    assert_eq!(signing_of(json!({ "signing": "pusher" })), Signing::Pusher);
    assert!(matches!(
        signing_of(json!({ "signing": "standard-webhooks", "secret": whsec })),
        Signing::StandardWebhooks(_)
    ));
    // A Lambda target signs the same way: the headers travel in the invocation.
    let lambda = json!({ "apps": [{ "id": "a", "key": "k", "secret": "s", "webhooks": [{
        "lambda_function": "f", "event_types": ["client_event"],
        "signing": "standard-webhooks", "secret": whsec }] }] });
    assert!(validate(&lambda, Path::new(".")).is_ok());

    let refused = [
        (
            json!({ "signing": "standard-webhooks" }),
            "apps[0].webhooks[1].secret: is required with `signing = \"standard-webhooks\"`",
        ),
        (
            json!({ "signing": "standard-webhooks", "secret": "hunter2-plain-text" }),
            "apps[0].webhooks[1].secret: must start with `whsec_`",
        ),
        (
            json!({ "signing": "standard-webhooks", "secret": "whsec_hunter2!!not-base64" }),
            "apps[0].webhooks[1].secret: the part after `whsec_` is not standard base64",
        ),
        (
            // "hunter2" in base64: 7 bytes, too short a key.
            json!({ "signing": "standard-webhooks", "secret": "whsec_aHVudGVyMg==" }),
            "apps[0].webhooks[1].secret: the key is 7 bytes; the Standard Webhooks spec wants 24 to 64",
        ),
        (
            json!({ "secret": whsec }),
            "apps[0].webhooks[1].secret: only applies with `signing = \"standard-webhooks\"`",
        ),
        (
            json!({ "signing": "standard_webhooks", "secret": whsec }),
            "apps[0].webhooks[1].signing: unknown signing scheme `standard_webhooks` (did you mean `standard-webhooks`?)",
        ),
        (
            json!({ "signing": true }),
            "apps[0].webhooks[1].signing: expected a string, found a boolean",
        ),
        (
            json!({ "headers": { "Webhook-Signature": "v1,forged" } }),
            "apps[0].webhooks[1].headers.Webhook-Signature: is set by the gateway",
        ),
    ];
    for (extra, expected) in refused {
        let found = problems(second(extra));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains(expected),
            "`{}` lacks `{expected}`",
            found[0]
        );
        for secret in ["hunter2", "aHVudGVyMg", "MfKQ9r8G"] {
            assert!(
                !found[0].contains(secret),
                "`{}` shows the secret",
                found[0]
            );
        }
    }
}

#[test]
fn a_toml_syntax_error_says_where_without_showing_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let text = "[[apps]]\nid = \"a\"\nkey = \"k\"\nsecret = \"hunter2-unterminated\n";
    std::fs::write(&path, text).unwrap();
    let error = super::load(&path).unwrap_err().to_string();
    assert!(error.contains("is not valid TOML"), "{error}");
    assert!(error.contains("(line 4, column 31)"), "{error}");
    assert!(!error.contains("hunter2"), "the line shows: {error}");
}

#[test]
fn a_filter_may_set_its_own_memory_cap_and_compiled_modules_are_cached_by_default() {
    let webhook = |cap: Value| {
        json!({ "url": "http://h/x", "event_types": ["client_event"], "filters": [
            { "module": "js.wasm", "memory_limit_mib": cap }, { "module": "rust.wasm" }
        ]})
    };
    let (config, _) = validate(&app_with(webhook(json!(96))), Path::new("/etc/sy")).unwrap();
    let filters = &config.apps[0].webhooks[0].filters;
    assert_eq!(filters[0].memory_limit_bytes, Some(96 << 20));
    assert_eq!(filters[1].memory_limit_bytes, None, "the runtime's");
    for bad in [0, 4097] {
        assert_one_problem(
            app_with(webhook(json!(bad))),
            "apps[0].webhooks[0].filters[0].memory_limit_mib: expected an integer from 1 to 4096",
        );
    }

    // In the queue's data directory, unless `cache_dir` says where.
    let cache_dir = |extra: Value| {
        let mut tree = app_with(webhook(json!(64)));
        tree.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (config, _) = validate(&tree, Path::new("/etc/sy")).unwrap();
        config.filters.cache_dir.unwrap()
    };
    assert_eq!(cache_dir(json!({})), Path::new("/etc/sy/data/filter-cache"));
    let queue = json!({ "queue": { "dir": "/var/lib/sy" } });
    assert_eq!(cache_dir(queue), Path::new("/var/lib/sy/filter-cache"));
    let own = json!({ "filters": { "cache_dir": "cache" } });
    assert_eq!(cache_dir(own), Path::new("/etc/sy/cache"));
}
