//! The filter runtime with real components: the example filters decide, chains apply
//! verdicts and `on_error`, hostile modules are contained, and the disk cache is used.

#[allow(dead_code)]
mod guests;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::event::Event;
use switchyard::filter::{
    FilterChain, FilterContext, FilterError, FilterRuntime, FilterSettings, FilterSpec,
    LoadedFilter, ModuleOrigin, OnError, Verdict,
};
use switchyard::json;
use switchyard::metrics::FilterStats;

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
        memory_limit_bytes: None,
    }
}

fn ctx(webhook_id: &str) -> FilterContext {
    FilterContext {
        app_id: "app-1".into(),
        webhook_id: webhook_id.into(),
        webhook_target: format!("https://{webhook_id}.example.com/hook"),
    }
}

/// Settings for tests that are not about deadlines: a test machine busy with parallel tests
/// must not turn a slow call into a timeout.
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
async fn decide(
    filter: &LoadedFilter,
    ctx: &FilterContext,
    events: Vec<Event>,
) -> Result<Vec<Verdict>, FilterError> {
    filter.decide(ctx, events).await.1
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

#[tokio::test]
async fn channel_router_routes_per_webhook() {
    let params = json!({"routes": [
        {"webhook": "billing", "channels": ["private-billing-*"]},
        {"webhook": "https://audit.example.com/*", "channels": ["*"]},
    ], "otherwise": "drop"});
    let router = runtime()
        .load(&spec("router", "filter-channel-router", params))
        .await
        .unwrap();
    let batch = || {
        vec![
            event(json!({"name": "channel_occupied", "channel": "private-billing-7"})),
            event(json!({"name": "channel_occupied", "channel": "private-chat"})),
        ]
    };
    let billing = decide(&router, &ctx("billing"), batch()).await.unwrap();
    assert_eq!(billing, [Verdict::Keep, Verdict::Drop]);
    let audit = decide(&router, &ctx("audit"), batch()).await.unwrap();
    assert_eq!(audit, [Verdict::Keep, Verdict::Keep]);
    let other = decide(&router, &ctx("other"), batch()).await.unwrap();
    assert_eq!(other, [Verdict::Drop, Verdict::Drop]);
}

#[tokio::test]
async fn presence_allowlist_keeps_listed_users() {
    let params = json!({"users": ["1", "7"]});
    let filter = runtime()
        .load(&spec("vip", "filter-presence-allowlist", params))
        .await
        .unwrap();
    let batch = vec![member_added("7"), member_added("8"), ordinary()];
    let verdicts = decide(&filter, &ctx("w"), batch).await.unwrap();
    assert_eq!(verdicts, [Verdict::Keep, Verdict::Drop, Verdict::Keep]);
}

#[tokio::test]
async fn redact_replaces_data_and_keeps_every_other_field() {
    let filter = runtime()
        .load(&spec(
            "redact",
            "filter-redact",
            json!({"fields": ["card"]}),
        ))
        .await
        .unwrap();
    let pay = event(json!({
        "name": "client_event", "channel": "private-shop", "event": "client-pay",
        "data": "{\"card\":\"4111\",\"sum\":3}", "socket_id": "1.2", "user_id": "u1", "custom": [1, 2]
    }));
    let verdicts = decide(&filter, &ctx("w"), vec![pay, ordinary()])
        .await
        .unwrap();
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

#[tokio::test]
async fn dedupe_keeps_state_across_calls_and_reloads() {
    let settings = FilterSettings {
        instances_per_filter: 1,
        ..settings()
    };
    let runtime = FilterRuntime::new(settings).unwrap();
    let dedupe_spec = spec("dedupe", "filter-dedupe", json!({"window_ms": 600_000}));
    let dedupe = runtime.load(&dedupe_spec).await.unwrap();
    let first = decide(
        &dedupe,
        &ctx("w"),
        vec![member_added("1"), member_added("1")],
    )
    .await
    .unwrap();
    assert_eq!(first, [Verdict::Keep, Verdict::Drop]);
    assert_eq!(
        decide(&dedupe, &ctx("w"), vec![member_added("1")])
            .await
            .unwrap(),
        [Verdict::Drop]
    );
    // Loading the same filter again (a reload) reuses the module and the instances.
    let reloaded = runtime.load(&dedupe_spec).await.unwrap();
    assert_eq!(reloaded.origin(), ModuleOrigin::Memory);
    assert_eq!(reloaded.module_hash(), dedupe.module_hash());
    assert_eq!(
        decide(&reloaded, &ctx("w"), vec![member_added("1")])
            .await
            .unwrap(),
        [Verdict::Drop]
    );
}

#[tokio::test]
async fn chain_applies_keep_drop_and_replace_in_order() {
    let runtime = runtime();
    let filters = [
        runtime
            .load(&spec(
                "vip",
                "filter-presence-allowlist",
                json!({"users": ["1"]}),
            ))
            .await
            .unwrap(),
        runtime
            .load(&spec(
                "redact",
                "filter-redact",
                json!({"fields": ["card"]}),
            ))
            .await
            .unwrap(),
        runtime
            .load(&spec("noop", "filter-noop", json!({})))
            .await
            .unwrap(),
    ];
    let stats: Vec<Arc<FilterStats>> = filters.iter().map(|_| Arc::default()).collect();
    let chain = FilterChain::new(filters.into_iter().zip(stats.iter().cloned()).collect());
    let pay =
        event(json!({"name": "client_event", "channel": "private-a", "data": "{\"card\":\"1\"}"}));
    let outcome = chain
        .apply(
            &ctx("w"),
            vec![member_added("1"), member_added("2"), pay, ordinary()],
        )
        .await;
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
    let counted = |s: &FilterStats| {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        (get(&s.calls), get(&s.dropped), get(&s.failures))
    };
    assert_eq!(counted(&stats[0]), (1, 1, 0), "vip dropped member 2");
    assert_eq!(
        counted(&stats[1]),
        (1, 0, 0),
        "redact replaced, dropped nothing"
    );
    assert_eq!(stats[2].call_seconds.count(), 1);
}

#[tokio::test]
async fn chain_applies_each_on_error_policy() {
    let runtime = runtime();
    let noop = runtime
        .load(&spec("noop", "filter-noop", json!({})))
        .await
        .unwrap();
    let run = async |on_error| {
        let panicking = FilterSpec {
            on_error,
            ..spec(
                "panics",
                "filter-hostile-misbehave",
                json!({"misbehave": "panic"}),
            )
        };
        let panicking = runtime.load(&panicking).await.unwrap();
        let counted = |filter| (filter, Arc::new(FilterStats::default()));
        let chain = FilterChain::new(vec![counted(panicking), counted(noop.clone())]);
        chain.apply(&ctx("w"), vec![misbehave(), ordinary()]).await
    };

    let dropped = run(OnError::Drop).await;
    assert!(dropped.delivered.is_empty() && dropped.dead_lettered.is_empty());
    assert!(matches!(dropped.failures[..], [FilterError::Trap { .. }]));

    let passed = run(OnError::Pass).await;
    assert_eq!(passed.delivered.len(), 2);
    assert_eq!(passed.failures.len(), 1);

    let dead = run(OnError::DeadLetter).await;
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

/// The hostile filter, misbehaving in the given way on `misbehave` events.
async fn hostile(runtime: &FilterRuntime, misbehaviour: &str) -> Arc<LoadedFilter> {
    let params = json!({ "misbehave": misbehaviour });
    let spec = spec("hostile", "filter-hostile-misbehave", params);
    runtime.load(&spec).await.unwrap()
}

/// Runs one batch that makes the hostile filter misbehave, then checks that the same filter
/// serves the next batch (a fresh instance) and that another filter is unaffected.
async fn contained(misbehaviour: &str, settings: FilterSettings) -> FilterError {
    let runtime = FilterRuntime::new(settings).unwrap();
    let hostile = hostile(&runtime, misbehaviour).await;
    let noop = runtime
        .load(&spec("noop", "filter-noop", json!({})))
        .await
        .unwrap();
    let (batch, result) = hostile
        .decide(&ctx("w"), vec![ordinary(), misbehave()])
        .await;
    assert_eq!(batch.len(), 2, "the batch comes back whole");
    let error = result.unwrap_err();
    assert_eq!(hostile.failures(), 1);
    assert_eq!(
        decide(&hostile, &ctx("w"), vec![ordinary()]).await.unwrap(),
        [Verdict::Keep]
    );
    assert_eq!(
        decide(&noop, &ctx("w"), vec![ordinary()]).await.unwrap(),
        [Verdict::Keep]
    );
    assert_eq!(noop.failures(), 0);
    error
}

#[tokio::test]
async fn an_infinite_loop_times_out() {
    // Long enough that the well-behaved calls around the loop never hit it on a busy machine.
    let call_timeout = Duration::from_millis(200);
    let settings = FilterSettings {
        call_timeout,
        ..settings()
    };
    let started = Instant::now();
    let error = contained("loop", settings).await;
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

/// The test runs on one thread: the ticker only advances when the looping call yields it.
#[tokio::test]
async fn a_looping_call_yields_its_thread_while_it_runs_to_its_deadline() {
    let call_timeout = Duration::from_millis(300);
    let settings = FilterSettings {
        call_timeout,
        ..settings()
    };
    let hostile = hostile(&FilterRuntime::new(settings).unwrap(), "loop").await;
    let done = AtomicBool::new(false);
    let ticks = AtomicUsize::new(0);
    let ticker = async {
        while !done.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            ticks.fetch_add(1, Ordering::Relaxed);
        }
    };
    let call = async {
        let answer = decide(&hostile, &ctx("w"), vec![misbehave()]).await;
        done.store(true, Ordering::Relaxed);
        answer
    };
    let (answer, ()) = tokio::join!(call, ticker);
    assert!(
        matches!(answer, Err(FilterError::Timeout { .. })),
        "{answer:?}"
    );
    let ticks = ticks.load(Ordering::Relaxed);
    assert!(
        ticks >= 5,
        "a 300 ms loop let a 10 ms ticker on its thread run only {ticks} times"
    );
}

#[tokio::test]
async fn a_call_its_caller_gives_up_on_discards_the_instance() {
    let settings = FilterSettings {
        instances_per_filter: 1,
        ..settings()
    };
    let hostile = hostile(&FilterRuntime::new(settings).unwrap(), "loop").await;
    let ctx = ctx("w");
    let looping = hostile.decide(&ctx, vec![misbehave()]);
    let abandoned = tokio::time::timeout(Duration::from_millis(100), looping).await;
    assert!(abandoned.is_err(), "the loop cannot finish within 100 ms");
    assert_eq!(hostile.instances(), 0, "the interrupted instance is gone");
    // Its place is free: the next call gets a fresh instance.
    assert_eq!(
        decide(&hostile, &ctx, vec![ordinary()]).await.unwrap(),
        [Verdict::Keep]
    );
    assert_eq!(hostile.instances(), 1);
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let settings = FilterSettings {
        memory_limit_bytes: 8 << 20,
        ..settings()
    };
    let error = contained("memory", settings).await;
    assert!(
        matches!(error, FilterError::MemoryLimit { ref filter, limit_bytes: 0x80_0000 } if filter == "hostile"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_panic_message() {
    let error = contained("panic", settings()).await;
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

#[tokio::test]
async fn an_invalid_replacement_fails_the_batch() {
    let runtime = runtime();
    let filter = runtime
        .load(&spec(
            "bad",
            "filter-hostile-misbehave",
            json!({"misbehave": "bad_replacement"}),
        ))
        .await
        .unwrap();
    let error = decide(&filter, &ctx("w"), vec![ordinary(), misbehave()])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, FilterError::BadReplacement { filter, index: 1, reason } if filter == "bad" && reason.contains("channel")),
        "{error:?}"
    );
    assert_eq!(filter.failures(), 1);
}

async fn load_error(spec: &FilterSpec) -> String {
    let error = runtime().load(spec).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("filter `{}`", spec.name)),
        "{message}"
    );
    message
}

#[tokio::test]
async fn a_module_of_another_world_is_refused_at_load() {
    let message = load_error(&spec("wrong", "filter-hostile-wrong-world", json!({}))).await;
    assert!(
        message.contains("does not implement the switchyard:filter/filter world"),
        "{message}"
    );
}

#[tokio::test]
async fn an_init_error_is_refused_at_load_with_its_message() {
    let message = load_error(&spec(
        "shy",
        "filter-hostile-misbehave",
        json!({"misbehave": "refuse_init"}),
    ))
    .await;
    assert!(
        message.ends_with("init refused its params: hostile filter refuses to start"),
        "{message}"
    );
    let bad_params = load_error(&spec(
        "router",
        "filter-channel-router",
        json!({"routes": 1}),
    ))
    .await;
    assert!(bad_params.contains("invalid params"), "{bad_params}");
}

#[tokio::test]
async fn missing_files_and_non_components_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let missing = FilterSpec {
        module: dir.path().join("absent.wasm"),
        ..spec("ghost", "filter-noop", json!({}))
    };
    assert!(load_error(&missing).await.contains("cannot read module"));
    let core_module = dir.path().join("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    let core = FilterSpec {
        module: core_module,
        ..spec("core", "filter-noop", json!({}))
    };
    assert!(
        load_error(&core)
            .await
            .contains("is not a WebAssembly component")
    );
}

#[tokio::test]
async fn compiled_modules_are_cached_on_disk_and_corrupt_entries_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let settings = FilterSettings {
        cache_dir: Some(dir.path().to_owned()),
        ..settings()
    };
    let router = spec("router", "filter-channel-router", json!({"routes": []}));
    let load = async || {
        let runtime = FilterRuntime::new(settings.clone()).unwrap();
        runtime.load(&router).await.unwrap()
    };
    let loaded = load().await;
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
    let restarted = load().await;
    assert_eq!(restarted.origin(), ModuleOrigin::DiskCache);
    assert_eq!(
        decide(&restarted, &ctx("w"), vec![ordinary()])
            .await
            .unwrap(),
        [Verdict::Keep]
    );

    // A damaged entry is never used: the module is compiled again and the entry rewritten.
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let recompiled = load().await;
    assert_eq!(recompiled.origin(), ModuleOrigin::Compiled);
    assert_eq!(
        decide(&recompiled, &ctx("w"), vec![ordinary()])
            .await
            .unwrap(),
        [Verdict::Keep]
    );
    assert_eq!(load().await.origin(), ModuleOrigin::DiskCache);
}

fn single_entry(dir: &Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_share_a_bounded_pool() {
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
        .await
        .unwrap();
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Watches how many instances exist while four tasks call at once.
    let watcher = std::thread::spawn({
        let (vip, most, done) = (vip.clone(), most.clone(), done.clone());
        // Looks at least once: on a busy machine the thread may first run after the calls.
        move || loop {
            most.fetch_max(vip.instances(), Ordering::Relaxed);
            if done.load(Ordering::Relaxed) {
                break;
            }
            std::thread::yield_now();
        }
    });
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let vip = vip.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    let batch = vec![member_added("1"), member_added("2")];
                    let verdicts = decide(&vip, &ctx("w"), batch).await.unwrap();
                    assert_eq!(verdicts, [Verdict::Keep, Verdict::Drop]);
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert_eq!(vip.failures(), 0);
    let most = most.load(Ordering::Relaxed);
    assert!(
        (1..=2).contains(&most),
        "four concurrent callers made {most} instances; the bound is 2"
    );
    assert!(vip.instances() <= 2);
}
