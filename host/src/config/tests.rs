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
