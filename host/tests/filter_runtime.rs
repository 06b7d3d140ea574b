//! The filter runtime with real components: the example filters decide, chains apply
//! verdicts and `on_error`, hostile modules are contained, and the disk cache is used.

mod guests;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::event::Event;
use switchyard::filter::{
    FilterChain, FilterContext, FilterError, FilterRuntime, FilterSettings, FilterSpec,
    LoadedFilter, ModuleOrigin, OnError, Verdict,
};
use switchyard::json;

fn event(value: Value) -> Event {
    Event::from_value(json::parse(value.to_string().as_bytes()).unwrap()).unwrap()
}

fn to_json(event: &Event) -> Value {
    let mut out = Vec::new();
    event.write_json(&mut out);
    serde_json::from_slice(&out).unwrap()
}

fn spec(name: &str, example: &str, params: Value) -> FilterSpec {
    FilterSpec {
        name: name.into(),
        module: guests::wasm(example),
        params,
        on_error: OnError::default(),
    }
}

fn ctx(webhook_id: &str) -> FilterContext {
    FilterContext {
        app_id: "app-1".into(),
        webhook_id: webhook_id.into(),
        webhook_target: format!("https://{webhook_id}.example.com/hook"),
    }
}

/// Settings for tests that are not about deadlines: epoch deadlines are wall-clock time,
/// and a test machine busy with parallel tests must not turn a slow call into a timeout.
fn settings() -> FilterSettings {
    FilterSettings {
        call_timeout: Duration::from_secs(10),
        ..FilterSettings::default()
    }
}

fn runtime() -> FilterRuntime {
    FilterRuntime::new(settings()).unwrap()
}

/// The verdicts, or the failure, for one batch.
fn decide(
    filter: &LoadedFilter,
    ctx: &FilterContext,
    events: Vec<Event>,
) -> Result<Vec<Verdict>, FilterError> {
    filter.decide(ctx, events).1
}

fn member_added(user: &str) -> Event {
    event(json!({"name": "member_added", "channel": "presence-room", "user_id": user}))
}

fn misbehave() -> Event {
    event(json!({"name": "misbehave", "channel": "c"}))
}

fn ordinary() -> Event {
    event(json!({"name": "channel_occupied", "channel": "c"}))
}

#[test]
fn channel_router_routes_per_webhook() {
    let params = json!({"routes": [
        {"webhook": "billing", "channels": ["private-billing-*"]},
        {"webhook": "https://audit.example.com/*", "channels": ["*"]},
    ], "otherwise": "drop"});
    let router = runtime()
        .load(&spec("router", "filter-channel-router", params))
        .unwrap();
    let batch = || {
        vec![
            event(json!({"name": "channel_occupied", "channel": "private-billing-7"})),
            event(json!({"name": "channel_occupied", "channel": "private-chat"})),
        ]
    };
    let billing = decide(&router, &ctx("billing"), batch()).unwrap();
    assert_eq!(billing, [Verdict::Keep, Verdict::Drop]);
    let audit = decide(&router, &ctx("audit"), batch()).unwrap();
    assert_eq!(audit, [Verdict::Keep, Verdict::Keep]);
    let other = decide(&router, &ctx("other"), batch()).unwrap();
    assert_eq!(other, [Verdict::Drop, Verdict::Drop]);
}

#[test]
fn presence_allowlist_keeps_listed_users() {
    let params = json!({"users": ["1", "7"]});
    let filter = runtime()
        .load(&spec("vip", "filter-presence-allowlist", params))
        .unwrap();
    let batch = vec![member_added("7"), member_added("8"), ordinary()];
    let verdicts = decide(&filter, &ctx("w"), batch).unwrap();
    assert_eq!(verdicts, [Verdict::Keep, Verdict::Drop, Verdict::Keep]);
}

#[test]
fn redact_replaces_data_and_keeps_every_other_field() {
    let filter = runtime()
        .load(&spec(
            "redact",
            "filter-redact",
            json!({"fields": ["card"]}),
        ))
        .unwrap();
    let pay = event(json!({
        "name": "client_event", "channel": "private-shop", "event": "client-pay",
        "data": "{\"card\":\"4111\",\"sum\":3}", "socket_id": "1.2", "user_id": "u1", "custom": [1, 2]
    }));
    let verdicts = decide(&filter, &ctx("w"), vec![pay, ordinary()]).unwrap();
    let [Verdict::Replace(replaced), Verdict::Keep] = &verdicts[..] else {
        panic!("expected a replacement and a keep: {verdicts:?}");
    };
    assert_eq!(
        to_json(replaced),
        json!({
            "name": "client_event", "channel": "private-shop", "event": "client-pay",
            "data": "{\"card\":\"[redacted]\",\"sum\":3}", "socket_id": "1.2", "user_id": "u1",
            "custom": [1, 2]
        })
    );
}

#[test]
fn dedupe_keeps_state_across_calls_and_reloads() {
    let settings = FilterSettings {
        instances_per_filter: 1,
        ..settings()
    };
    let runtime = FilterRuntime::new(settings).unwrap();
    let dedupe_spec = spec("dedupe", "filter-dedupe", json!({"window_ms": 600_000}));
    let dedupe = runtime.load(&dedupe_spec).unwrap();
    let first = decide(
        &dedupe,
        &ctx("w"),
        vec![member_added("1"), member_added("1")],
    )
    .unwrap();
    assert_eq!(first, [Verdict::Keep, Verdict::Drop]);
    assert_eq!(
        decide(&dedupe, &ctx("w"), vec![member_added("1")]).unwrap(),
        [Verdict::Drop]
    );
    // Loading the same filter again (a reload) reuses the module and the instances.
    let reloaded = runtime.load(&dedupe_spec).unwrap();
    assert_eq!(reloaded.origin(), ModuleOrigin::Memory);
    assert_eq!(reloaded.module_hash(), dedupe.module_hash());
    assert_eq!(
        decide(&reloaded, &ctx("w"), vec![member_added("1")]).unwrap(),
        [Verdict::Drop]
    );
}

#[test]
fn chain_applies_keep_drop_and_replace_in_order() {
    let runtime = runtime();
    let chain = FilterChain::new(vec![
        runtime
            .load(&spec(
                "vip",
                "filter-presence-allowlist",
                json!({"users": ["1"]}),
            ))
            .unwrap(),
        runtime
            .load(&spec(
                "redact",
                "filter-redact",
                json!({"fields": ["card"]}),
            ))
            .unwrap(),
        runtime
            .load(&spec("noop", "filter-noop", json!({})))
            .unwrap(),
    ]);
    let pay =
        event(json!({"name": "client_event", "channel": "private-a", "data": "{\"card\":\"1\"}"}));
    let outcome = chain.apply(
        &ctx("w"),
        vec![member_added("1"), member_added("2"), pay, ordinary()],
    );
    assert!(outcome.failures.is_empty() && outcome.dead_lettered.is_empty());
    let delivered: Vec<Value> = outcome.delivered.iter().map(to_json).collect();
    assert_eq!(
        delivered,
        [
            json!({"name": "member_added", "channel": "presence-room", "user_id": "1"}),
            json!({"name": "client_event", "channel": "private-a", "data": "{\"card\":\"[redacted]\"}"}),
            json!({"name": "channel_occupied", "channel": "c"}),
        ]
    );
}

#[test]
fn chain_applies_each_on_error_policy() {
    let runtime = runtime();
    let panicking = |on_error| {
        let spec = FilterSpec {
            on_error,
            ..spec(
                "panics",
                "filter-hostile-misbehave",
                json!({"misbehave": "panic"}),
            )
        };
        runtime.load(&spec).unwrap()
    };
    let noop = runtime
        .load(&spec("noop", "filter-noop", json!({})))
        .unwrap();
    let run = |on_error| {
        let chain = FilterChain::new(vec![panicking(on_error), noop.clone()]);
        chain.apply(&ctx("w"), vec![misbehave(), ordinary()])
    };

    let dropped = run(OnError::Drop);
    assert!(dropped.delivered.is_empty() && dropped.dead_lettered.is_empty());
    assert!(matches!(dropped.failures[..], [FilterError::Trap { .. }]));

    let passed = run(OnError::Pass);
    assert_eq!(passed.delivered.len(), 2);
    assert_eq!(passed.failures.len(), 1);

    let dead = run(OnError::DeadLetter);
    assert!(dead.delivered.is_empty());
    assert_eq!(
        dead.dead_lettered
            .iter()
            .map(Event::name)
            .collect::<Vec<_>>(),
        ["misbehave", "channel_occupied"]
    );
    assert_eq!(dead.failures.len(), 1);
}

/// Runs one batch that makes the hostile filter misbehave, then checks that the same filter
/// serves the next batch (a fresh instance) and that another filter is unaffected.
fn contained(misbehaviour: &str, settings: FilterSettings) -> FilterError {
    let runtime = FilterRuntime::new(settings).unwrap();
    let hostile = runtime
        .load(&spec(
            "hostile",
            "filter-hostile-misbehave",
            json!({"misbehave": misbehaviour}),
        ))
        .unwrap();
    let noop = runtime
        .load(&spec("noop", "filter-noop", json!({})))
        .unwrap();
    let (batch, result) = hostile.decide(&ctx("w"), vec![ordinary(), misbehave()]);
    assert_eq!(batch.len(), 2, "the batch comes back whole");
    let error = result.unwrap_err();
    assert_eq!(hostile.failures(), 1);
    assert_eq!(
        decide(&hostile, &ctx("w"), vec![ordinary()]).unwrap(),
        [Verdict::Keep]
    );
    assert_eq!(
        decide(&noop, &ctx("w"), vec![ordinary()]).unwrap(),
        [Verdict::Keep]
    );
    assert_eq!(noop.failures(), 0);
    error
}

#[test]
fn an_infinite_loop_times_out() {
    // Long enough that the well-behaved calls around the loop never hit it on a busy machine.
    let call_timeout = Duration::from_millis(200);
    let settings = FilterSettings {
        call_timeout,
        ..settings()
    };
    let started = Instant::now();
    let error = contained("loop", settings);
    let elapsed = started.elapsed();
    assert!(
        matches!(&error, FilterError::Timeout { filter, deadline } if filter == "hostile" && *deadline == call_timeout),
        "{error:?}"
    );
    // The deadline is never cut short; the upper bound only guards against a hang.
    assert!(
        elapsed >= call_timeout && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let settings = FilterSettings {
        memory_limit_bytes: 8 << 20,
        ..settings()
    };
    let error = contained("memory", settings);
    assert!(
        matches!(error, FilterError::MemoryLimit { ref filter, limit_bytes: 0x80_0000 } if filter == "hostile"),
        "{error:?}"
    );
}

#[test]
fn a_panic_is_a_trap_with_the_panic_message() {
    let error = contained("panic", settings());
    let FilterError::Trap { filter, message } = &error else {
        panic!("expected a trap: {error:?}");
    };
    assert_eq!(filter, "hostile");
    assert!(
        message.contains("hostile filter panics on purpose"),
        "{message}"
    );
    assert!(
        error.to_string().starts_with("filter `hostile` trapped: "),
        "{error}"
    );
}

#[test]
fn an_invalid_replacement_fails_the_batch() {
    let runtime = runtime();
    let filter = runtime
        .load(&spec(
            "bad",
            "filter-hostile-misbehave",
            json!({"misbehave": "bad_replacement"}),
        ))
        .unwrap();
    let error = decide(&filter, &ctx("w"), vec![ordinary(), misbehave()]).unwrap_err();
    assert!(
        matches!(&error, FilterError::BadReplacement { filter, index: 1, reason } if filter == "bad" && reason.contains("channel")),
        "{error:?}"
    );
    assert_eq!(filter.failures(), 1);
}

fn load_error(spec: &FilterSpec) -> String {
    let error = runtime().load(spec).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("filter `{}`", spec.name)),
        "{message}"
    );
    message
}

#[test]
fn a_module_of_another_world_is_refused_at_load() {
    let message = load_error(&spec("wrong", "filter-hostile-wrong-world", json!({})));
    assert!(
        message.contains("does not implement the switchyard:filter/filter world"),
        "{message}"
    );
}

#[test]
fn an_init_error_is_refused_at_load_with_its_message() {
    let message = load_error(&spec(
        "shy",
        "filter-hostile-misbehave",
        json!({"misbehave": "refuse_init"}),
    ));
    assert!(
        message.ends_with("init refused its params: hostile filter refuses to start"),
        "{message}"
    );
    let bad_params = load_error(&spec(
        "router",
        "filter-channel-router",
        json!({"routes": 1}),
    ));
    assert!(bad_params.contains("invalid params"), "{bad_params}");
}

#[test]
fn missing_files_and_non_components_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let missing = FilterSpec {
        module: dir.path().join("absent.wasm"),
        ..spec("ghost", "filter-noop", json!({}))
    };
    assert!(load_error(&missing).contains("cannot read module"));
    let core_module = dir.path().join("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    let core = FilterSpec {
        module: core_module,
        ..spec("core", "filter-noop", json!({}))
    };
    assert!(load_error(&core).contains("is not a WebAssembly component"));
}

#[test]
fn compiled_modules_are_cached_on_disk_and_corrupt_entries_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let settings = FilterSettings {
        cache_dir: Some(dir.path().to_owned()),
        ..settings()
    };
    let router = spec("router", "filter-channel-router", json!({"routes": []}));
    let load = || {
        FilterRuntime::new(settings.clone())
            .unwrap()
            .load(&router)
            .unwrap()
    };
    let loaded = load();
    assert_eq!(loaded.origin(), ModuleOrigin::Compiled);
    let entry = single_entry(dir.path());
    assert!(
        entry
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&loaded.module_hash().to_string())
    );

    // A new runtime (a restart) reads the entry instead of compiling.
    let restarted = load();
    assert_eq!(restarted.origin(), ModuleOrigin::DiskCache);
    assert_eq!(
        decide(&restarted, &ctx("w"), vec![ordinary()]).unwrap(),
        [Verdict::Keep]
    );

    // A damaged entry is never used: the module is compiled again and the entry rewritten.
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let recompiled = load();
    assert_eq!(recompiled.origin(), ModuleOrigin::Compiled);
    assert_eq!(
        decide(&recompiled, &ctx("w"), vec![ordinary()]).unwrap(),
        [Verdict::Keep]
    );
    assert_eq!(load().origin(), ModuleOrigin::DiskCache);
}

fn single_entry(dir: &Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

#[test]
fn concurrent_calls_share_a_bounded_pool() {
    let settings = FilterSettings {
        instances_per_filter: 2,
        ..settings()
    };
    let runtime = FilterRuntime::new(settings).unwrap();
    let vip: Arc<LoadedFilter> = runtime
        .load(&spec(
            "vip",
            "filter-presence-allowlist",
            json!({"users": ["1"]}),
        ))
        .unwrap();
    let most = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Watches how many instances exist while four threads call at once.
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most.fetch_max(vip.instances(), std::sync::atomic::Ordering::Relaxed);
                std::thread::yield_now();
            }
        });
        let callers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..50 {
                        let verdicts =
                            decide(&vip, &ctx("w"), vec![member_added("1"), member_added("2")])
                                .unwrap();
                        assert_eq!(verdicts, [Verdict::Keep, Verdict::Drop]);
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(vip.failures(), 0);
    let most = most.into_inner();
    assert!(
        (1..=2).contains(&most),
        "four concurrent callers made {most} instances; the bound is 2"
    );
    assert!(vip.instances() <= 2);
}
