//! Hot reload with the real binary: every way a config file gets replaced, refusals that keep
//! the last good config serving, SIGHUP, and the admin endpoint.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{
    Gateway, KEY, PATIENCE, SECRET, Sink, batch, file_hash, module_hash, one_app_config,
    post_signed, reload_soak, replace_file, stamp_module, with_free_admin_port, write_atomically,
};

/// One app with one webhook to `url`; the admin listener on a free port (the tests read the
/// config's hash back, so it is written exactly as returned).
fn config(url: &str) -> String {
    let webhook =
        format!("[[apps.webhooks]]\nurl = \"{url}\"\nevent_types = [\"channel_occupied\"]");
    with_free_admin_port(&one_app_config("", &webhook), "switchyard.toml")
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn config_hash(status: &Value) -> &str {
    status["config"]["hash"].as_str().unwrap_or_default()
}

/// Waits until the gateway runs `text`, then checks an event goes to `expected_path` only.
fn assert_serves(gateway: &Gateway, sink: &Sink, text: &str, expected_path: &str) {
    let want = sha256_hex(text);
    gateway.wait_for_status("the new config", |s| config_hash(s) == want);
    let body = batch(&[json!({"name": "channel_occupied", "channel": "c"})]);
    assert_eq!(post_signed(gateway, KEY, SECRET, &body).0, 200);
    assert_eq!(sink.expect(1)[0].path, expected_path);
}

fn start(sink: &Sink) -> (Gateway, String) {
    let text = config(&sink.url("/v1"));
    let gateway = Gateway::start(&text);
    (gateway, text)
}

fn config_file(gateway: &Gateway) -> std::path::PathBuf {
    gateway.dir.path().join("switchyard.toml")
}

#[test]
fn an_edit_in_place_takes_effect() {
    let sink = Sink::start(SECRET, KEY);
    let (gateway, v1) = start(&sink);
    assert_serves(&gateway, &sink, &v1, "/v1");
    let v2 = config(&sink.url("/v2"));
    std::fs::write(config_file(&gateway), &v2).unwrap();
    assert_serves(&gateway, &sink, &v2, "/v2");
    let status = gateway.status();
    assert_eq!(status["reload"]["last"]["trigger"], "file_change");
    assert_eq!(status["reload"]["last"]["ok"], true);
}

#[test]
fn a_rename_over_the_file_takes_effect() {
    let sink = Sink::start(SECRET, KEY);
    let (gateway, _) = start(&sink);
    let v2 = config(&sink.url("/v2"));
    let staged = gateway.dir.path().join(".switchyard.toml.tmp");
    std::fs::write(&staged, &v2).unwrap();
    std::fs::rename(&staged, config_file(&gateway)).unwrap();
    assert_serves(&gateway, &sink, &v2, "/v2");
}

#[test]
fn a_kubernetes_configmap_symlink_swap_takes_effect() {
    // The layout the kubelet writes: file -> ..data/file, ..data -> ..<timestamp>/.
    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write_version = |name: &str, text: &str| {
        std::fs::create_dir(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("switchyard.toml"), text).unwrap();
    };
    let v1 = config(&sink.url("/v1"));
    write_version("..2026_11_29_v1", &v1);
    std::os::unix::fs::symlink("..2026_11_29_v1", root.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/switchyard.toml", root.join("switchyard.toml")).unwrap();
    let path = root.join("switchyard.toml");
    let gateway = Gateway::start_at(&path, dir, &[]);
    let root = gateway.dir.path();
    assert_serves(&gateway, &sink, &v1, "/v1");

    let v2 = config(&sink.url("/v2"));
    std::fs::create_dir(root.join("..2026_11_29_v2")).unwrap();
    std::fs::write(root.join("..2026_11_29_v2/switchyard.toml"), &v2).unwrap();
    std::os::unix::fs::symlink("..2026_11_29_v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    std::fs::remove_dir_all(root.join("..2026_11_29_v1")).unwrap();
    assert_serves(&gateway, &sink, &v2, "/v2");
}

#[test]
fn a_delete_then_create_takes_effect() {
    let sink = Sink::start(SECRET, KEY);
    let (gateway, _) = start(&sink);
    std::fs::remove_file(config_file(&gateway)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let v2 = config(&sink.url("/v2"));
    std::fs::write(config_file(&gateway), &v2).unwrap();
    assert_serves(&gateway, &sink, &v2, "/v2");
}

#[test]
fn a_broken_config_is_refused_and_the_last_good_one_keeps_serving() {
    // Written whole each time (an in-place write can be seen empty, itself a refused config).
    let sink = Sink::start(SECRET, KEY);
    let (gateway, v1) = start(&sink);
    let broken = v1.replace("channel_occupied", "channel_ocupied");
    write_atomically(&config_file(&gateway), &broken);
    let status = gateway.wait_for_status("the refused reload", |s| s["reload"]["failed"] == 1);
    let error = status["reload"]["last"]["error"].as_str().unwrap();
    assert!(
        error.contains("apps[0].webhooks[0].event_types[0]"),
        "{error}"
    );
    assert!(
        error.contains("switchyard.toml"),
        "the error names the file: {error}"
    );
    assert_eq!(
        config_hash(&status),
        sha256_hex(&v1),
        "still running the good config"
    );
    assert_serves(&gateway, &sink, &v1, "/v1");
    // Other files changing beside it (a log file, say) do not make it try the same broken
    // config again.
    let beside = config_file(&gateway).with_file_name("gateway.log");
    for i in 0..5 {
        std::fs::write(&beside, format!("line {i}\n")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(gateway.status()["reload"]["failed"], 1);

    // Not even TOML: same.
    write_atomically(&config_file(&gateway), "[[apps]\nid = ");
    gateway.wait_for_status("the second refused reload", |s| s["reload"]["failed"] == 2);
    assert_serves(&gateway, &sink, &v1, "/v1");

    // The next good write is picked up normally.
    let v2 = config(&sink.url("/v2"));
    write_atomically(&config_file(&gateway), &v2);
    assert_serves(&gateway, &sink, &v2, "/v2");
    let failed = r#"switchyard_reloads_total{outcome="failed"}"#;
    assert_eq!(gateway.metric(failed), Some(2.0));
}

#[test]
fn sighup_reloads() {
    let sink = Sink::start(SECRET, KEY);
    let (gateway, _) = start(&sink);
    gateway.signal("HUP");
    // Among the recent reloads: the watcher may also report the config's first write.
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let overview = gateway.admin_get("/overview");
        let reloads = overview["reloads"].as_array().unwrap();
        if reloads
            .iter()
            .any(|r| r["trigger"] == "signal" && r["ok"] == true)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no SIGHUP reload: {reloads:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn the_admin_endpoints_need_their_token_and_are_not_public() {
    let sink = Sink::start(SECRET, KEY);
    let admin = "[admin]\nlisten = \"127.0.0.1:0\"\n";
    let text =
        config(&sink.url("/v1")).replacen(admin, &format!("{admin}token = \"s3cr3t-t0ken\"\n"), 1);
    let gateway = Gateway::start(&text);
    let client = reqwest::blocking::Client::new();
    let reload = |token: Option<&str>| {
        let mut request = client.post(gateway.admin_url("/admin/reload"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().unwrap()
    };
    assert_eq!(reload(None).status(), 401);
    assert_eq!(reload(Some("wrong")).status(), 401);
    assert_eq!(
        client
            .get(gateway.admin_url("/status"))
            .send()
            .unwrap()
            .status(),
        401
    );
    let ok = reload(Some("s3cr3t-t0ken"));
    assert_eq!(ok.status(), 200);
    let outcome: Value = serde_json::from_str(&ok.text().unwrap()).unwrap();
    assert_eq!(outcome["trigger"], "admin");
    assert_eq!(outcome["ok"], true);
    let status = client
        .get(gateway.admin_url("/status"))
        .bearer_auth("s3cr3t-t0ken")
        .send()
        .unwrap();
    assert_eq!(status.status(), 200);
    assert!(
        !status.text().unwrap().contains("s3cr3t-t0ken"),
        "the token is never shown"
    );
    // Nothing of the admin API on the public listener.
    assert_eq!(
        client.get(gateway.url("/status")).send().unwrap().status(),
        404
    );
    assert_eq!(
        client
            .post(gateway.url("/admin/reload"))
            .send()
            .unwrap()
            .status(),
        404
    );
}

/// A config whose webhook runs the filter module at `module`.
fn filtered_config(url: &str, module: &Path) -> String {
    config(url).replace(
        "event_types = [\"channel_occupied\"]",
        &format!(
            "event_types = [\"channel_occupied\"]\nfilters = [{{ module = \"{}\" }}]",
            module.display()
        ),
    )
}

/// Sends one event and returns the stamp the filter put on it.
fn stamp_of_next_event(gateway: &Gateway, sink: &Sink) -> String {
    let body = batch(&[json!({"name": "channel_occupied", "channel": "c"})]);
    assert_eq!(post_signed(gateway, KEY, SECRET, &body).0, 200);
    sink.expect(1)[0].json()["events"][0]["filter_stamp"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_replaced_filter_module_takes_effect_and_a_broken_one_is_refused() {
    let (v1, v2) = (stamp_module("v1"), stamp_module("v2"));
    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("filters/stamp.wasm");
    std::fs::create_dir_all(module.parent().unwrap()).unwrap();
    std::fs::copy(&v1, &module).unwrap();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        filtered_config(&sink.url("/hook"), &module),
    )
    .unwrap();
    let gateway = Gateway::start_at(&dir.path().join("switchyard.toml"), dir, &[]);
    assert_eq!(stamp_of_next_event(&gateway, &sink), "v1");

    replace_file(&v2, &module);
    let want = file_hash(&v2);
    gateway.wait_for_status("module v2", |s| module_hash(s) == want);
    assert_eq!(stamp_of_next_event(&gateway, &sink), "v2");

    // A broken module: refused with the filter's name, v2 keeps deciding.
    std::fs::write(module.with_extension("staged"), b"\0asm not really").unwrap();
    std::fs::rename(module.with_extension("staged"), &module).unwrap();
    let status = gateway.wait_for_status("the refused reload", |s| s["reload"]["failed"] == 1);
    let error = status["reload"]["last"]["error"].as_str().unwrap();
    assert!(error.contains("filter `stamp`"), "{error}");
    assert!(error.contains("apps[0].webhooks[0].filters[0]"), "{error}");
    assert_eq!(module_hash(&status), want);
    assert_eq!(stamp_of_next_event(&gateway, &sink), "v2");

    // Fixed: picked up normally.
    replace_file(&v1, &module);
    let want = file_hash(&v1);
    gateway.wait_for_status("module v1 again", |s| module_hash(s) == want);
    assert_eq!(stamp_of_next_event(&gateway, &sink), "v1");
}

#[test]
fn reloads_under_load_lose_nothing_and_never_decide_with_a_stale_version() {
    let versions = [stamp_module("v1"), stamp_module("v2")];
    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("stamp.wasm");
    std::fs::copy(&versions[0], &module).unwrap();
    // Compiling each new module takes both cores for a moment; a generous call deadline keeps
    // the filter's wall-clock timeout (tested elsewhere) out of what this test measures.
    let config = filtered_config(&sink.url("/hook"), &module)
        .replace("[server]", "[filters]\ncall_timeout_ms = 2000\n\n[server]");
    std::fs::write(dir.path().join("switchyard.toml"), config).unwrap();
    let gateway = std::sync::Arc::new(Gateway::start_at(
        &dir.path().join("switchyard.toml"),
        dir,
        &[],
    ));
    let report = reload_soak(&gateway, &sink, &module, &versions, 10, PATIENCE);
    assert_eq!(
        report.delivered, report.sent,
        "every event delivered: {report:?}"
    );
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert!(
        report.stale.is_empty(),
        "events decided by a stale version: {report:?}"
    );
    assert!(
        report.checked > 0,
        "the load produced events after each swap: {report:?}"
    );
}

#[test]
fn a_write_landing_while_a_module_loads_is_applied_after_it() {
    let (v1, v2) = (stamp_module("v1"), stamp_module("v2"));
    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("stamp.wasm");
    std::fs::copy(&v1, &module).unwrap();
    // The filter's `init` takes 600 ms: every load of it is slow.
    let slow = filtered_config(&sink.url("/hook"), &module)
        .replace(
            &format!("{{ module = \"{}\" }}", module.display()),
            &format!(
                "{{ module = \"{}\", params = {{ init_spin_ms = 600 }} }}",
                module.display()
            ),
        )
        .replace("[server]", "[filters]\ncall_timeout_ms = 5000\n\n[server]");
    std::fs::write(dir.path().join("switchyard.toml"), slow).unwrap();
    let gateway = Gateway::start_at(&dir.path().join("switchyard.toml"), dir, &[]);
    assert_eq!(stamp_of_next_event(&gateway, &sink), "v1");

    // v2 starts loading; while its `init` runs, v1 is written back.
    replace_file(&v2, &module);
    std::thread::sleep(std::time::Duration::from_millis(250));
    replace_file(&v1, &module);
    // What was loaded is v2, so the file (v1) counts as changed and is loaded after it.
    let want = file_hash(&v1);
    gateway.wait_for_status("v1 loaded again after v2", |s| {
        module_hash(s) == want && s["reload"]["succeeded"].as_u64() >= Some(2)
    });
    assert_eq!(stamp_of_next_event(&gateway, &sink), "v1");
}

#[test]
fn a_burst_of_writes_is_debounced_into_few_reloads_ending_on_the_last_version() {
    let sink = Sink::start(SECRET, KEY);
    let (gateway, _) = start(&sink);
    const WRITES: usize = 20;
    let mut last = String::new();
    for i in 1..=WRITES {
        last = config(&sink.url(&format!("/v{i}")));
        std::fs::write(config_file(&gateway), &last).unwrap();
    }
    assert_serves(&gateway, &sink, &last, &format!("/v{WRITES}"));
    let reloads = gateway.status()["reload"]["succeeded"].as_u64().unwrap();
    assert!(
        reloads < WRITES as u64 / 2,
        "{reloads} reloads for one burst of {WRITES} writes"
    );
}
