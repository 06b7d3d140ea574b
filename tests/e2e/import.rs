//! `switchyard import soketi` as a user runs it: every example soketi config in config/soketi
//! imports to a config `switchyard check` accepts, the snippet lands where it says, and
//! problems go to stderr while stdout stays a config.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{binary, repo_root, run_cli};

fn import(args: &[&str]) -> Output {
    Command::new(binary())
        .args(["import", "soketi"])
        .args(args)
        .env_remove("SOKETI_DEFAULT_APP_WEBHOOKS")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example(name: &str) -> String {
    repo_root()
        .join("config/soketi")
        .join(name)
        .display()
        .to_string()
}

fn check(path: &Path) -> String {
    let (code, out) = run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(
        code, 0,
        "switchyard check refused the imported config:\n{out}"
    );
    out
}

#[test]
fn help_explains_the_import() {
    let (code, out) = run_cli(&["import", "soketi", "--help"]);
    assert_eq!(code, 0, "{out}");
    for words in [
        "appManager.array.apps",
        "SOKETI_DEFAULT_APP_",
        "--gateway-url",
        "--out",
        "--env",
        "/ingest/pusher",
        "batching",
        "left out and reported",
    ] {
        assert!(out.contains(words), "`{words}` missing from:\n{out}");
    }
    let (code, out) = run_cli(&["import", "--help"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("soketi"), "{out}");
}

#[test]
fn every_example_soketi_config_imports_to_a_config_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for (name, apps, webhooks) in [("dotted.json", 2, 4), ("nested.json", 1, 2)] {
        for ext in ["toml", "json"] {
            let stem = format!("{}-{ext}", name.trim_end_matches(".json"));
            let out = dir.path().join(format!("{stem}.{ext}"));
            let result = import(&[&example(name), "--out", out.to_str().unwrap()]);
            let report = text(&result.stderr);
            assert!(result.status.success(), "{name}: {report}");
            assert!(report.contains("0 warning(s)"), "{name}: {report}");
            let checked = check(&out);
            assert!(
                checked.contains(&format!("ok ({apps} app(s), {webhooks} webhook(s))")),
                "{checked}"
            );
            let snippet = dir.path().join(format!("{stem}.soketi.json"));
            let snippet: Value =
                serde_json::from_str(&std::fs::read_to_string(&snippet).unwrap()).unwrap();
            let soketi_apps = snippet["appManager.array.apps"].as_array().unwrap();
            assert_eq!(soketi_apps.len(), apps);
            assert_eq!(result.stdout, b"", "with --out nothing goes to stdout");
        }
    }

    // The environment form, from an env file: the snippet is variables.
    let out = dir.path().join("env.toml");
    let result = import(&[
        "--env-file",
        &example("soketi.env"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(check(&out).contains("ok (1 app(s), 1 webhook(s))"));
    let config = std::fs::read_to_string(&out).unwrap();
    assert!(config.contains("batching = { window_ms = 75 }"), "{config}");
    let env = std::fs::read_to_string(dir.path().join("env.soketi.env")).unwrap();
    assert!(
        env.starts_with(
            "SOKETI_DEFAULT_APP_WEBHOOKS='[{\"url\":\"http://127.0.0.1:7700/ingest/pusher\""
        ),
        "{env}"
    );
    assert!(env.contains("SOKETI_WEBHOOKS_BATCHING='false'"), "{env}");
}

#[test]
fn stdout_is_the_config_stderr_the_report_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("soketi.json");
    std::fs::write(
        &source,
        r#"{"appManager.array.apps": [{"id": "a", "key": "k", "secret": "s",
            "webhooks": [{"url": "http://127.0.0.1:9000/x", "event_types": ["member_added", "memberremoved"]},
                         {"event_types": ["client_event"]}]}]}"#,
    )
    .unwrap();
    let result = import(&[
        source.to_str().unwrap(),
        "--gateway-url",
        "http://127.0.0.2:8080",
    ]);
    let (stdout, stderr) = (text(&result.stdout), text(&result.stderr));
    assert!(result.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: appManager.array.apps[0].webhooks[0].event_types[1]: unknown event type \"memberremoved\" (did you mean `member_removed`?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: appManager.array.apps[0].webhooks[1]: has neither `url` nor `lambda_function`"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("2 warning(s)"), "{stderr}");
    assert!(
        stderr.contains("\"url\": \"http://127.0.0.2:8080/ingest/pusher\""),
        "the snippet: {stderr}"
    );
    let config: toml::Value = toml::from_str(&stdout).expect("stdout is the TOML config");
    assert_eq!(config["server"]["listen"].as_str(), Some("127.0.0.2:8080"));
    assert_eq!(config["apps"][0]["webhooks"].as_array().unwrap().len(), 1);

    let out = dir.path().join("switchyard.toml");
    std::fs::write(&out, "# mine\n").unwrap();
    let result = import(&[source.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!result.status.success());
    assert!(
        text(&result.stderr).contains("--force"),
        "{}",
        text(&result.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "# mine\n",
        "left as it was"
    );
    let result = import(&[
        source.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    check(&out);

    std::fs::write(&source, r#"{"port": 6001}"#).unwrap();
    let result = import(&[source.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1));
    assert!(
        text(&result.stderr).contains("no apps to import"),
        "{}",
        text(&result.stderr)
    );
    assert_eq!(result.stdout, b"");
}
