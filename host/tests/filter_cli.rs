//! `switchyard filter test` and `switchyard filter new`, run as a user would: the real
//! binary, real components (Rust, and JavaScript built with componentize-js), and scaffolded
//! projects built with cargo and npm.

mod guests;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A call deadline no well-behaved call reaches, however busy the machine.
const SLOW: &str = "10000";

fn switchyard(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `filter test`; `timeout_ms` is generous except where a timeout is the point, since a
/// deadline is wall-clock time and the test machine may be busy.
fn filter_test(
    example: &str,
    params: &str,
    timeout_ms: &str,
    stdin: &str,
) -> (Option<i32>, String, String) {
    filter_test_module(&guests::wasm(example), params, timeout_ms, stdin)
}

/// `filter test` on a module file, with the tests' shared cache of compiled modules.
fn filter_test_module(
    module: &Path,
    params: &str,
    timeout_ms: &str,
    stdin: &str,
) -> (Option<i32>, String, String) {
    let cache = guests::shared_cache_dir();
    let args = [
        "filter",
        "test",
        "--module",
        module.to_str().unwrap(),
        "--params",
        params,
        "--timeout-ms",
        timeout_ms,
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let output = switchyard(&args, stdin);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn filter_test_prints_each_verdict_and_replacement() {
    let stdin = concat!(
        r#"{"name":"client_event","channel":"private-shop","data":"{\"card\":\"4111\"}"}"#,
        "\n\n",
        r#"{"time_ms":1,"events":[{"name":"member_added","channel":"presence-a","user_id":"1"},"#,
        r#"{"name":"client_event","channel":"private-a","data":"{}"}]}"#,
        "\n",
    );
    let (code, stdout, stderr) =
        filter_test("filter-redact", r#"{"fields":["card"]}"#, SLOW, stdin);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines[0].starts_with("replace") && lines[0].ends_with("client_event private-shop"));
    assert!(lines[0].contains(" µs"), "per-event time: {}", lines[0]);
    assert_eq!(
        lines[1].trim(),
        r#"=> {"name":"client_event","channel":"private-shop","data":"{\"card\":\"[redacted]\"}"}"#
    );
    assert!(lines[2].starts_with("keep") && lines[2].ends_with("member_added presence-a"));
    assert!(lines[3].starts_with("keep") && lines[3].ends_with("client_event private-a"));
    assert!(
        lines[4].starts_with("3 decided: 2 kept, 0 dropped, 1 replaced; 0 failed"),
        "{}",
        lines[4]
    );
}

#[test]
fn filter_test_tells_the_filter_its_webhook() {
    let module = guests::wasm("filter-channel-router");
    let params =
        r#"{"routes":[{"webhook":"billing","channels":["private-billing-*"]}],"otherwise":"drop"}"#;
    let event = "{\"name\":\"channel_occupied\",\"channel\":\"private-billing-1\"}\n";
    let run = |webhook: &str| {
        let args = [
            "filter",
            "test",
            "-m",
            module.to_str().unwrap(),
            "--params",
            params,
            "--webhook",
            webhook,
        ];
        String::from_utf8(switchyard(&args, event).stdout).unwrap()
    };
    assert!(run("billing").starts_with("keep"));
    assert!(run("audit").starts_with("drop"));
}

#[test]
fn filter_test_fails_on_traps_timeouts_and_bad_input_but_goes_on() {
    let stdin = concat!(
        r#"{"name":"misbehave","channel":"c"}"#,
        "\nnot json\n",
        r#"{"name":"channel_occupied","channel":"c"}"#,
        "\n"
    );
    let (code, stdout, stderr) = filter_test(
        "filter-hostile-misbehave",
        r#"{"misbehave":"panic"}"#,
        SLOW,
        stdin,
    );
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("error"), "{stdout}");
    assert!(
        lines[0].contains("trapped") && lines[0].contains("hostile filter panics on purpose"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("line 2: not JSON"), "{stdout}");
    assert!(
        lines[2].starts_with("keep"),
        "the next event gets a fresh instance: {stdout}"
    );
    // The guest's own log line reaches stderr, tagged with the filter's name.
    assert!(
        stderr.contains("misbehaving: Panic") && stderr.contains("filter_hostile_misbehave"),
        "{stderr}"
    );

    let event = "{\"name\":\"misbehave\",\"channel\":\"c\"}\n";
    let (code, stdout, _) = filter_test(
        "filter-hostile-misbehave",
        r#"{"misbehave":"loop"}"#,
        "50",
        event,
    );
    assert_eq!(code, Some(1));
    assert!(stdout.contains("timed out"), "{stdout}");
}

#[test]
fn filter_test_load_errors_name_the_filter() {
    let (code, _, stderr) = filter_test("filter-hostile-wrong-world", "{}", SLOW, "");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("filter `filter_hostile_wrong_world`")
            && stderr.contains("does not implement the switchyard:filter/filter world"),
        "{stderr}"
    );
    let (code, _, stderr) = filter_test(
        "filter-hostile-misbehave",
        r#"{"misbehave":"refuse_init"}"#,
        SLOW,
        "",
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("init refused its params: hostile filter refuses to start"),
        "{stderr}"
    );
}

#[test]
fn filter_help_explains_each_command() {
    let help = |args: &[&str]| String::from_utf8(switchyard(args, "").stdout).unwrap();
    let filter = help(&["filter", "--help"]);
    assert!(
        filter.contains("test") && filter.contains("new"),
        "{filter}"
    );
    let test = help(&["filter", "test", "--help"]);
    assert!(
        test.contains("--params") && test.contains("Exit status"),
        "{test}"
    );
    let new = help(&["filter", "new", "--help"]);
    assert!(
        new.contains("wasm32-wasip2") && new.contains("--dir"),
        "{new}"
    );
}

#[test]
fn filter_new_scaffolds_a_crate_that_builds_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let scaffold = || {
        switchyard(
            &[
                "filter",
                "new",
                "my-filter",
                "--dir",
                dir.path().to_str().unwrap(),
            ],
            "",
        )
    };
    let output = scaffold();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let krate = dir.path().join("my-filter");
    // The workspace's lock file pins the same dependency versions the repository builds with.
    std::fs::copy(
        guests::workspace_root().join("Cargo.lock"),
        krate.join("Cargo.lock"),
    )
    .unwrap();
    let target = guests::workspace_root()
        .join("target")
        .join("filter-new-test");
    cargo(
        &krate,
        &target,
        &["build", "--quiet", "--target", "wasm32-wasip2", "--release"],
    );
    cargo(&krate, &target, &["test", "--quiet"]);

    let module = target.join("wasm32-wasip2/release/my_filter.wasm");
    let events = "{\"name\":\"client_event\",\"channel\":\"private-a\"}\n{\"name\":\"client_event\",\"channel\":\"public-a\"}\n";
    let output = switchyard(
        &["filter", "test", "--module", module.to_str().unwrap()],
        events,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(verdicts[..2], ["keep", "drop"], "{stdout}");

    let again = scaffold();
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing crate is never overwritten"
    );
}

fn cargo(dir: &Path, target: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The verdict lines of `filter test` without their timings: `keep  client_event c`, or
/// `=> {replacement}`.
fn verdicts(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["=>", ..] => line.trim().to_owned(),
                [verdict, _time, "µs", rest @ ..] => format!("{verdict} {}", rest.join(" ")),
                _ => line.to_owned(),
            }
        })
        .collect()
}

#[test]
fn filter_test_gives_the_js_examples_verdicts_as_their_rust_twins() {
    let stdin = concat!(
        r#"{"name":"client_event","channel":"private-shöp","data":"{\"card\":\"4111\",\"n\":[{\"card\":1}]}"}"#,
        "\n",
        r#"{"time_ms":1,"events":[{"name":"member_added","channel":"presence-a","user_id":"1"},"#,
        r#"{"name":"client_event","channel":"private-a","data":"{}"}]}"#,
        "\n",
    );
    let redact = r#"{"fields":["card"]}"#;
    let (code, rust, _) = filter_test("filter-redact", redact, SLOW, stdin);
    assert_eq!(code, Some(0), "{rust}");
    let js_module = guests::js_wasm("redact-ts", &[]);
    let (code, js, stderr) = filter_test_module(&js_module, redact, SLOW, stdin);
    assert_eq!(code, Some(0), "{js}\n{stderr}");
    // The summary's average time differs; every verdict and replacement is the same.
    let (rust, js) = (verdicts(&rust), verdicts(&js));
    assert_eq!(js[..4], rust[..4], "{js:#?}");
    assert!(js[1].contains(r#"\"card\":\"[redacted]\",\"n\":[{\"card\":\"[redacted]\"}]"#));
    assert!(
        stderr.contains("compiled the module in") || stderr.contains("from the cache in"),
        "filter test says where the compiled module came from: {stderr}"
    );

    let router = guests::js_wasm("channel-router-js", &[]);
    let params =
        r#"{"routes":[{"webhook":"billing","channels":["private-billing-*"]}],"otherwise":"drop"}"#;
    let event = "{\"name\":\"channel_occupied\",\"channel\":\"private-billing-1\"}\n";
    let cache = guests::shared_cache_dir();
    let run = |webhook: &str| {
        let args = [
            "filter",
            "test",
            "-m",
            router.to_str().unwrap(),
            "--params",
            params,
            "--webhook",
            webhook,
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        String::from_utf8(switchyard(&args, event).stdout).unwrap()
    };
    assert!(run("billing").starts_with("keep"));
    assert!(run("audit").starts_with("drop"));
}

#[test]
fn filter_test_reports_a_js_throw_with_its_message_and_goes_on() {
    let hostile = guests::js_wasm("hostile-js", &[]);
    let stdin = "{\"name\":\"misbehave\",\"channel\":\"c\"}\n{\"name\":\"channel_occupied\",\"channel\":\"c\"}\n";
    let (code, stdout, stderr) =
        filter_test_module(&hostile, r#"{"misbehave":"throw"}"#, SLOW, stdin);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("error") && lines[0].contains("hostile filter throws on purpose"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("keep"), "a fresh instance: {stdout}");
    // `log.warn` reaches the log, tagged with the filter's name.
    assert!(
        stderr.contains("misbehaving: throw") && stderr.contains("hostile-js"),
        "{stderr}"
    );
}

/// `filter new --lang js|ts`, then what its output says to do: `npm install`, `npm test`,
/// `npm run build`, and `filter test` on the module built.
fn scaffold_js_builds_and_filters(lang: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "filter",
        "new",
        "my-filter",
        "--lang",
        lang,
        "--dir",
        dir.path().to_str().unwrap(),
    ];
    let output = switchyard(&args, "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("npm install && npm test && npm run build"),
        "{stdout}"
    );
    let project = dir.path().join("my-filter");
    // From npm's cache, which tests/setup.sh filled with the same pinned versions.
    npm(
        &project,
        &["install", "--prefer-offline", "--no-audit", "--no-fund"],
    );
    let tested = npm(&project, &["test"]);
    assert!(tested.contains("pass 2"), "{tested}");
    npm(&project, &["run", "build"]);

    let module = project.join("my-filter.wasm");
    let events = "{\"name\":\"client_event\",\"channel\":\"private-a\"}\n{\"name\":\"client_event\",\"channel\":\"public-a\"}\n";
    let (code, stdout, stderr) = filter_test_module(&module, "{}", SLOW, events);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(verdicts[..2], ["keep", "drop"], "{stdout}");
    assert!(
        stderr.contains("keeping channels starting with \"private-\""),
        "{stderr}"
    );
}

#[test]
fn filter_new_js_scaffolds_a_project_that_builds_and_filters() {
    scaffold_js_builds_and_filters("js");
}

#[test]
fn filter_new_js_scaffolds_a_typescript_project_that_builds_and_filters() {
    scaffold_js_builds_and_filters("ts");
}

/// Runs npm in `dir`; returns its output, failing with it if npm fails.
fn npm(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "npm {args:?} failed:\n{text}");
    text
}
