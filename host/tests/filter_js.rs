//! JavaScript filters in the runtime: the JS and TypeScript examples built from source with
//! componentize-js decide exactly as their Rust twins, and a hostile JS filter (a throw, an
//! infinite loop, a memory bomb, a refused `init`, an answer that is no verdict) is contained
//! like a Rust one.

mod guests;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::event::Event;
use switchyard::filter::{
    FilterContext, FilterError, FilterRuntime, FilterSettings, FilterSpec, LoadedFilter, OnError,
    Verdict,
};

fn event(value: Value) -> Event {
    Event::from_value(switchyard::json::parse(value.to_string().as_bytes()).unwrap()).unwrap()
}

fn runtime() -> FilterRuntime {
    FilterRuntime::new(FilterSettings {
        // A busy test machine must not turn a slow call into a timeout.
        call_timeout: Duration::from_secs(10),
        cache_dir: Some(guests::shared_cache_dir()),
        ..FilterSettings::default()
    })
    .unwrap()
}

fn rust_spec(example: &str, params: Value) -> FilterSpec {
    FilterSpec {
        name: example.into(),
        module: guests::wasm(example),
        params,
        on_error: OnError::default(),
        memory_limit_bytes: None,
    }
}

fn js_spec(example: &str, params: Value) -> FilterSpec {
    FilterSpec {
        module: guests::js_wasm(example, &[]),
        ..rust_spec("filter-noop", params)
    }
}

fn ctx(app_id: &str, webhook_id: &str) -> FilterContext {
    FilterContext {
        app_id: app_id.into(),
        webhook_id: webhook_id.into(),
        webhook_target: format!("https://{webhook_id}.example.com/hook"),
    }
}

async fn decide(filter: &LoadedFilter, ctx: &FilterContext, events: Vec<Event>) -> Vec<Verdict> {
    filter.decide(ctx, events).await.1.unwrap()
}

/// Twenty events whose strings are full of non-ASCII text, so every span after the first
/// starts at a byte offset that is not its UTF-16 index.
fn unicode_batch() -> Vec<Event> {
    let channels = [
        "présence-salle-7",
        "private-billing-€42",
        "private-会議-1",
        "presence-room-😀",
        "private-chat-ü",
    ];
    (0..20)
        .map(|i| {
            let channel = channels[i % channels.len()];
            let data =
                json!({"card": "4111", "note": format!("naïve {i}"), "nested": [{"card": i}]});
            event(json!({
                "name": if i % 3 == 0 { "member_added" } else { "client_event" },
                "channel": channel,
                "event": "client-ünïcode",
                "user_id": format!("usér-{i}"),
                "data": data.to_string(),
            }))
        })
        .collect()
}

#[tokio::test]
async fn js_examples_decide_exactly_as_their_rust_twins_on_non_ascii_batches() {
    let runtime = runtime();
    let routes = json!({"routes": [
        {"webhook": "billing", "channels": ["private-billing-*"]},
        {"webhook": "salle", "channels": ["présence-salle-?", "private-会議-*"]},
        {"webhook": "https://audit.example.com/*", "channels": ["*"]},
    ], "otherwise": "drop"});
    let redact = json!({"fields": ["card", "password"]});
    let twins = [
        ("filter-channel-router", "channel-router-js", routes),
        ("filter-redact", "redact-ts", redact),
    ];
    for (rust, js, params) in twins {
        let rust_filter = runtime
            .load(&rust_spec(rust, params.clone()))
            .await
            .unwrap();
        let js_filter = runtime.load(&js_spec(js, params)).await.unwrap();
        for webhook in ["billing", "salle", "audit", "elsewhere"] {
            // Non-ASCII in the context too: it comes first in the batch's text.
            let ctx = ctx("äpp-1", webhook);
            let expected = decide(&rust_filter, &ctx, unicode_batch()).await;
            let got = decide(&js_filter, &ctx, unicode_batch()).await;
            assert_eq!(got, expected, "{js} for {webhook}");
        }
    }
}

#[tokio::test]
async fn js_router_keeps_and_drops_per_webhook() {
    let params = json!({"routes": [{"webhook": "billing", "channels": ["private-billing-*"]}], "otherwise": "drop"});
    let router = runtime()
        .load(&js_spec("channel-router-js", params))
        .await
        .unwrap();
    let batch = || {
        vec![
            event(json!({"name": "channel_occupied", "channel": "private-billing-7"})),
            event(json!({"name": "channel_occupied", "channel": "private-chat"})),
        ]
    };
    let billing = decide(&router, &ctx("app", "billing"), batch()).await;
    assert_eq!(billing, [Verdict::Keep, Verdict::Drop]);
    let other = decide(&router, &ctx("app", "other"), batch()).await;
    assert_eq!(other, [Verdict::Drop, Verdict::Drop]);
}

async fn hostile(
    runtime: &FilterRuntime,
    misbehave: &str,
    memory_mib: Option<usize>,
) -> Arc<LoadedFilter> {
    let spec = FilterSpec {
        name: "hostile".into(),
        memory_limit_bytes: memory_mib.map(|mib| mib << 20),
        ..js_spec("hostile-js", json!({ "misbehave": misbehave }))
    };
    runtime.load(&spec).await.unwrap()
}

/// Makes the hostile JS filter misbehave on a batch; checks the batch comes back whole, the
/// same filter serves the next batch (a fresh instance) and the router beside it is unharmed.
async fn contained(
    runtime: &FilterRuntime,
    misbehave: &str,
    memory_mib: Option<usize>,
) -> FilterError {
    let hostile = hostile(runtime, misbehave, memory_mib).await;
    let router = runtime
        .load(&js_spec("channel-router-js", json!({"routes": []})))
        .await
        .unwrap();
    let ordinary = || event(json!({"name": "channel_occupied", "channel": "c"}));
    let trigger = vec![
        ordinary(),
        event(json!({"name": "client_event", "channel": "misbehave"})),
    ];
    let (batch, result) = hostile.decide(&ctx("app", "w"), trigger).await;
    assert_eq!(batch.len(), 2, "the batch comes back whole");
    let error = result.unwrap_err();
    assert_eq!(hostile.failures(), 1);
    assert_eq!(hostile.instances(), 0, "the failed instance is gone");
    assert_eq!(
        decide(&hostile, &ctx("app", "w"), vec![ordinary()]).await,
        [Verdict::Keep]
    );
    assert_eq!(
        decide(&router, &ctx("app", "w"), vec![ordinary()]).await,
        [Verdict::Keep]
    );
    assert_eq!(router.failures(), 0);
    error
}

#[tokio::test]
async fn a_js_throw_is_a_trap_with_the_error_message() {
    let error = contained(&runtime(), "throw", None).await;
    let FilterError::Trap { filter, message } = &error else {
        panic!("expected a trap: {error:?}");
    };
    assert_eq!(filter, "hostile");
    assert!(
        message.contains("hostile filter throws on purpose"),
        "{message}"
    );
}

#[tokio::test]
async fn a_js_answer_that_is_no_verdict_is_a_trap_naming_it() {
    let error = contained(&runtime(), "bad_verdict", None).await;
    assert!(
        matches!(&error, FilterError::Trap { message, .. } if message.contains("not \"maybe\"")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_js_infinite_loop_hits_the_deadline() {
    let call_timeout = Duration::from_millis(500);
    let runtime = FilterRuntime::new(FilterSettings {
        call_timeout,
        cache_dir: Some(guests::shared_cache_dir()),
        ..FilterSettings::default()
    })
    .unwrap();
    let error = contained(&runtime, "loop", None).await;
    assert!(
        matches!(&error, FilterError::Timeout { filter, deadline } if filter == "hostile" && *deadline == call_timeout),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_js_memory_bomb_hits_its_filters_memory_cap() {
    let runtime = runtime();
    let default_cap = runtime.settings().memory_limit_bytes;
    let error = contained(&runtime, "memory", Some(96)).await;
    assert!(
        matches!(&error, FilterError::MemoryLimit { filter, limit_bytes } if filter == "hostile" && *limit_bytes == 96 << 20),
        "{error:?}"
    );
    // The cap is the filter's own; the others keep the runtime's.
    let router = runtime
        .load(&js_spec("channel-router-js", json!({"routes": []})))
        .await
        .unwrap();
    assert_eq!(router.memory_limit(), default_cap);
    assert!(router.memory_peak() > 0 && router.memory_peak() < default_cap);
}

#[tokio::test]
async fn a_js_init_that_throws_refuses_the_filter_with_its_message() {
    let refused = js_spec("hostile-js", json!({"misbehave": "refuse_init"}));
    let error = runtime().load(&refused).await.unwrap_err().to_string();
    assert!(
        error.contains("init refused its params: hostile filter refuses to start"),
        "{error}"
    );
    let bad_params = js_spec("channel-router-js", json!({"routes": "all"}));
    let error = runtime().load(&bad_params).await.unwrap_err().to_string();
    assert!(
        error.contains("invalid params: `routes` must be a list"),
        "{error}"
    );
}

#[tokio::test]
async fn a_js_instance_growing_toward_its_cap_is_replaced_before_it_fails_a_batch() {
    // componentize-js keeps a few hundred bytes per call: at 16 MiB (9 MiB of it taken at
    // start), an instance never replaced would hit the cap within about 18,000 calls.
    let spec = FilterSpec {
        memory_limit_bytes: Some(16 << 20),
        ..js_spec("channel-router-js", json!({"routes": []}))
    };
    let router = runtime().load(&spec).await.unwrap();
    let ctx = ctx("app", "w");
    let mut batch = vec![event(json!({
        "name": "client_event", "channel": "private-chat-1", "event": "client-message",
        "socket_id": "123456.7890123", "user_id": "user-1", "data": "x".repeat(300),
    }))];
    for _ in 0..30_000 {
        let (events, verdicts) = router.decide(&ctx, batch).await;
        assert_eq!(verdicts.unwrap(), [Verdict::Keep]);
        batch = events;
    }
    assert_eq!(router.failures(), 0);
    // It did grow past 3/4 of the cap, and was retired there rather than failing at it.
    let peak = router.memory_peak();
    assert!(peak > 12 << 20 && peak < 16 << 20, "{peak}");
}
