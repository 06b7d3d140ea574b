//! The import against soketi's semantics: the example configs round-trip, every change is
//! reported, and the result always validates.

use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};

use super::{ImportError, Imported, Input, import};
use crate::config::{EventType, Target};
use crate::import::Level;

fn gateway() -> Url {
    Url::parse("http://127.0.0.1:7700").unwrap()
}

fn import_file(file: &Value) -> Imported {
    import_with(Some(file), &[], false).unwrap()
}

fn import_with(
    file: Option<&Value>,
    env: &[(&str, &str)],
    use_env: bool,
) -> Result<Imported, ImportError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let url = gateway();
    import(Input {
        file,
        env: &env,
        use_env,
        gateway_url: &url,
    })
}

/// Notes as `path: message` lines, for `contains` checks.
fn lines(imported: &Imported, level: Level) -> Vec<String> {
    imported
        .notes
        .iter()
        .filter(|n| n.level == level)
        .map(|n| format!("{}: {}", n.path, n.message))
        .collect()
}

fn assert_reported(lines: &[String], path: &str, words: &str) {
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{path}: ")) && l.contains(words)),
        "no `{path}: ...{words}...` in {lines:#?}"
    );
}

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/soketi")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each imported app and webhook is the source's, unchanged, and means the same once loaded.
fn assert_round_trip(imported: &Imported, source_apps: &Value) {
    let source_apps = source_apps.as_array().unwrap();
    let apps = imported.tree["apps"].as_array().unwrap();
    assert_eq!(apps.len(), source_apps.len());
    for ((tree, loaded), source) in apps.iter().zip(&imported.config.apps).zip(source_apps) {
        for field in ["id", "key", "secret"] {
            assert_eq!(tree[field], source[field], "{field}");
        }
        assert_eq!(loaded.secret.expose(), source["secret"]);
        assert_eq!(
            tree["webhooks"], source["webhooks"],
            "webhooks move over unchanged"
        );
        let source_hooks = source["webhooks"].as_array().unwrap();
        assert_eq!(loaded.webhooks.len(), source_hooks.len());
        for (webhook, source) in loaded.webhooks.iter().zip(source_hooks) {
            let types: Vec<&str> = webhook.event_types.iter().map(EventType::as_str).collect();
            let mut want: Vec<&str> = source["event_types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            want.sort_by_key(|t| EventType::ALL.iter().position(|e| e.as_str() == *t));
            assert_eq!(types, want);
            let filter = &source["filter"];
            assert_eq!(
                webhook.channel_filter.starts_with.as_deref(),
                filter["channel_name_starts_with"].as_str()
            );
            assert_eq!(
                webhook.channel_filter.ends_with.as_deref(),
                filter["channel_name_ends_with"].as_str()
            );
            let headers: Vec<(String, String)> = source["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(webhook.headers, headers);
            match &webhook.target {
                Target::Http(url) => assert_eq!(url.as_str(), source["url"].as_str().unwrap()),
                Target::Lambda(lambda) => {
                    assert_eq!(lambda.function, source["lambda_function"].as_str().unwrap());
                    let options = &source["lambda"];
                    assert_eq!(lambda.asynchronous, options["async"] == true);
                    let region = options["client_options"]["region"]
                        .as_str()
                        .or(options["region"].as_str());
                    assert_eq!(lambda.region.as_deref(), region);
                    let endpoint = options["client_options"]["endpoint"].as_str();
                    assert_eq!(
                        lambda.endpoint.as_ref().map(Url::as_str),
                        endpoint.map(|e| format!("{e}/")).as_deref()
                    );
                    let credentials = &options["client_options"]["credentials"];
                    assert_eq!(
                        lambda
                            .credentials
                            .as_ref()
                            .map(|c| c.access_key_id.as_str()),
                        credentials["accessKeyId"].as_str()
                    );
                }
            }
        }
    }
}

#[test]
fn the_dotted_example_round_trips_with_batching_moved_to_each_app() {
    let source = example("dotted.json");
    let imported = import_file(&source);
    assert_round_trip(&imported, &source["appManager.array.apps"]);
    assert!(
        lines(&imported, Level::Warning).is_empty(),
        "{:?}",
        imported.notes
    );
    for app in &imported.config.apps {
        assert_eq!(app.batching.window.as_millis(), 100, "soketi batched");
    }
    let snippet = imported.snippet.file.as_ref().unwrap();
    assert_eq!(snippet["webhooks.batching.enabled"], false);
    let apps = snippet["appManager.array.apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2);
    // Each app keeps its soketi settings; its webhooks become the gateway's one.
    assert_eq!(apps[0]["maxConnections"], 1000);
    assert_eq!(apps[0]["enableClientMessages"], true);
    assert_eq!(
        apps[1]["webhooks"],
        json!([{
            "url": "http://127.0.0.1:7700/ingest/pusher",
            "event_types": ["channel_occupied", "channel_vacated", "member_added", "member_removed",
                            "client_event", "cache_miss", "subscription_count"]
        }])
    );
    assert!(imported.snippet.env.is_empty());
}

#[test]
fn the_nested_example_round_trips() {
    let source = example("nested.json");
    let imported = import_file(&source);
    assert_round_trip(&imported, &source["appManager"]["array"]["apps"]);
    assert!(
        lines(&imported, Level::Warning).is_empty(),
        "{:?}",
        imported.notes
    );
    assert_eq!(
        imported.config.apps[0].batching.window,
        Duration::ZERO,
        "batching is off there"
    );
    let snippet = imported.snippet.file.as_ref().unwrap();
    assert!(snippet.get("webhooks.batching.enabled").is_none());
}

#[test]
fn the_environment_form_gives_the_first_app_and_an_env_snippet() {
    let env = [
        ("SOKETI_DEFAULT_APP_ID", "42"),
        ("SOKETI_DEFAULT_APP_KEY", "env-key"),
        ("SOKETI_DEFAULT_APP_SECRET", "env-secret"),
        (
            "SOKETI_DEFAULT_APP_WEBHOOKS",
            r#"[{"url":"http://127.0.0.1:9000/hooks","event_types":["client_event"]}]"#,
        ),
        ("SOKETI_WEBHOOKS_BATCHING", "true"),
        ("SOKETI_WEBHOOKS_BATCHING_DURATION", "75"),
        ("PATH", "/usr/bin"),
    ];
    // No file: the environment is all there is.
    let imported = import_with(None, &env, false).unwrap();
    let app = &imported.config.apps[0];
    assert_eq!((app.id.as_str(), app.key.as_str()), ("42", "env-key"));
    assert_eq!(app.batching.window.as_millis(), 75);
    assert_eq!(app.webhooks.len(), 1);
    assert_eq!(imported.snippet.file, None);
    let env_snippet = &imported.snippet.env;
    assert_eq!(env_snippet[0].0, "SOKETI_DEFAULT_APP_WEBHOOKS");
    let hooks: Value = serde_json::from_str(&env_snippet[0].1).unwrap();
    assert_eq!(hooks[0]["url"], "http://127.0.0.1:7700/ingest/pusher");
    assert_eq!(
        env_snippet[1],
        ("SOKETI_WEBHOOKS_BATCHING".into(), "false".into())
    );

    // A file with apps: the environment counts only with --env, and then wins, as in soketi.
    let file = example("nested.json");
    let without = import_with(Some(&file), &env, false).unwrap();
    assert_eq!(without.config.apps[0].key, "app-key");
    let notes = lines(&without, Level::Note);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("6 SOKETI_* variable(s) set here were not read")),
        "{notes:?}"
    );
    let with = import_with(Some(&file), &env, true).unwrap();
    assert_eq!(with.config.apps[0].key, "env-key");
    assert!(with.snippet.file.is_some() && !with.snippet.env.is_empty());
}

#[test]
fn what_soketi_never_used_is_left_out_and_reported_and_the_rest_validates() {
    let source = json!({
        "metrics.hots": "127.0.0.1",
        "webhooks.batching.enabled": true,
        "webhooks.batching.duration": "soon",
        "appManager": { "array": { "apps": [
            {
                "id": "a", "key": "k", "secret": "s", "maxConections": 5,
                "webhooks": [
                    { "url": "http://127.0.0.1:9000/a", "event_types": ["client_event", "client_events", "subscription_count"],
                      "filter": { "channel_name_startswith": "private-", "channel_name_ends_with": "" },
                      "headers": { "X-Pusher-Signature": "forged", "X-Retries": 3 },
                      "lambda": { "async": true }, "retries": 3 },
                    { "event_types": ["member_added"] },
                    { "url": "http://127.0.0.1:9000/b", "lambda_function": "f", "event_types": ["member_added"] },
                    { "lambda_function": "no-options", "event_types": ["channel_occupied"] },
                    { "lambda_function": "v2-style", "event_types": ["channel_vacated"],
                      "lambda": { "async": 1, "client_options": {
                          "accessKeyId": "AKID", "secretAccessKey": "sk", "maxRetries": 2, "region": "eu-west-1" } } },
                    { "url": "ftp://127.0.0.1/x", "event_types": ["cache_miss"] },
                    { "url": "http://127.0.0.1:9000/c", "event_types": "client_event" }
                ]
            },
            { "AppId": 7, "AppKey": "k2", "Webhooks": "[{\"url\":\"http://127.0.0.1:9000/d\",\"event_types\":[\"cache_miss\"]}]" },
            { "id": "dup", "key": "k", "secret": "s3" },
            { "id": "a", "key": "k3", "secret": "s4" }
        ] } }
    });
    let imported = import_file(&source);
    let warnings = lines(&imported, Level::Warning);
    let notes = lines(&imported, Level::Note);
    let w = "appManager.array.apps[0].webhooks";
    assert_reported(&warnings, "metrics.hots", "did you mean `host`?");
    assert_reported(&warnings, "appManager.driver", "soketi would load no apps");
    assert_reported(
        &warnings,
        "webhooks.batching.duration",
        "using soketi's default, 50",
    );
    assert_reported(
        &warnings,
        "appManager.array.apps[0].maxConections",
        "did you mean `maxConnections`?",
    );
    assert_reported(
        &warnings,
        &format!("{w}[0].event_types[1]"),
        "did you mean `client_event`?",
    );
    assert_reported(
        &warnings,
        &format!("{w}[0].filter.channel_name_startswith"),
        "did you mean `channel_name_starts_with`?",
    );
    assert_reported(
        &notes,
        &format!("{w}[0].headers.X-Pusher-Signature"),
        "replaces it",
    );
    assert_reported(
        &warnings,
        &format!("{w}[0].lambda"),
        "only apply to a lambda_function webhook",
    );
    assert_reported(
        &warnings,
        &format!("{w}[0].retries"),
        "not a soketi webhook field",
    );
    assert_reported(
        &warnings,
        &format!("{w}[1]"),
        "neither `url` nor `lambda_function`",
    );
    assert_reported(
        &warnings,
        &format!("{w}[2].lambda_function"),
        "soketi uses `url`",
    );
    assert_reported(
        &notes,
        &format!("{w}[3].lambda"),
        "soketi 1.6.1 shuts itself down",
    );
    assert_reported(&notes, &format!("{w}[3].lambda"), "us-east-1");
    assert_reported(
        &notes,
        &format!("{w}[4].lambda.client_options.accessKeyId"),
        "moved into `credentials`",
    );
    assert_reported(
        &warnings,
        &format!("{w}[4].lambda.client_options.maxRetries"),
        "does not support",
    );
    assert_reported(&warnings, &format!("{w}[5].url"), "the gateway refuses it");
    assert_reported(&warnings, &format!("{w}[6].event_types"), "is not a list");
    assert_reported(
        &warnings,
        "appManager.array.apps[1].secret",
        "default `app-secret`",
    );
    assert_reported(
        &warnings,
        "appManager.array.apps[2]",
        "key of an earlier app",
    );
    assert_reported(&warnings, "appManager.array.apps[3].id", "`a-2`");

    let apps = &imported.config.apps;
    let ids: Vec<&str> = apps.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a", "7", "a-2"]);
    let first = &imported.tree["apps"][0]["webhooks"];
    assert_eq!(
        first[0],
        json!({ "url": "http://127.0.0.1:9000/a", "event_types": ["client_event", "subscription_count"],
                "headers": { "X-Retries": "3" } })
    );
    assert_eq!(
        first[1],
        json!({ "url": "http://127.0.0.1:9000/b", "event_types": ["member_added"] })
    );
    assert_eq!(
        first[2],
        json!({ "lambda_function": "no-options", "event_types": ["channel_occupied"], "lambda": { "region": "us-east-1" } })
    );
    assert_eq!(
        first[3],
        json!({ "lambda_function": "v2-style", "event_types": ["channel_vacated"],
                "lambda": { "async": true, "client_options": { "region": "eu-west-1",
                    "credentials": { "accessKeyId": "AKID", "secretAccessKey": "sk" } } } })
    );
    assert_eq!(first.as_array().unwrap().len(), 4);
    assert_eq!(apps[1].secret.expose(), "app-secret");
    assert_eq!(apps[1].webhooks.len(), 1, "webhooks given as a JSON string");
    assert_eq!(apps[0].batching.window.as_millis(), 50);
    // The duplicate-key app stays in soketi as it was; the others point at the gateway.
    let snippet_apps = &imported.snippet.file.as_ref().unwrap()["appManager.array.apps"];
    assert_eq!(snippet_apps[2], source["appManager"]["array"]["apps"][2]);
    assert_eq!(
        snippet_apps[1]["webhooks"][0]["url"],
        "http://127.0.0.1:7700/ingest/pusher"
    );
    assert!(snippet_apps[1].get("Webhooks").is_none());
}

#[test]
fn no_apps_and_bad_inputs_are_refused_with_a_reason() {
    let err = import_with(Some(&json!({ "port": 6001 })), &[], false).unwrap_err();
    assert!(
        err.to_string().contains("no `appManager.array.apps`"),
        "{err}"
    );
    let err = import_with(Some(&json!([1])), &[], false).unwrap_err();
    assert!(matches!(err, ImportError::NotAnObject), "{err}");
    let err = import_with(Some(&json!({ "appManager.array.apps": [5] })), &[], false).unwrap_err();
    assert!(err.to_string().contains("no usable app"), "{err}");
    let url = Url::parse("ftp://gateway").unwrap();
    let file = example("nested.json");
    let err = import(Input {
        file: Some(&file),
        env: &[],
        use_env: false,
        gateway_url: &url,
    })
    .unwrap_err();
    assert!(matches!(err, ImportError::GatewayUrl(_)), "{err}");
}

#[test]
fn the_gateway_url_gives_the_snippet_url_and_the_listen_address() {
    let file = example("nested.json");
    let cases = [
        (
            "http://127.0.0.1:7700",
            "http://127.0.0.1:7700/ingest/pusher",
            "127.0.0.1:7700",
        ),
        (
            "http://localhost:9000/",
            "http://localhost:9000/ingest/pusher",
            "127.0.0.1:9000",
        ),
        (
            "http://gateway.internal",
            "http://gateway.internal/ingest/pusher",
            "0.0.0.0:80",
        ),
        (
            "http://[::1]:7700/hooks/ingest/pusher",
            "http://[::1]:7700/hooks/ingest/pusher",
            "[::1]:7700",
        ),
        (
            "https://hooks.example.com/switchyard",
            "https://hooks.example.com/switchyard/ingest/pusher",
            "0.0.0.0:7700",
        ),
    ];
    for (given, ingest, listen) in cases {
        let url = Url::parse(given).unwrap();
        let imported = import(Input {
            file: Some(&file),
            env: &[],
            use_env: false,
            gateway_url: &url,
        })
        .unwrap();
        let snippet = imported.snippet.file.unwrap();
        assert_eq!(
            snippet["appManager.array.apps"][0]["webhooks"][0]["url"], ingest,
            "{given}"
        );
        assert_eq!(imported.config.server.listen.to_string(), listen, "{given}");
    }
}
