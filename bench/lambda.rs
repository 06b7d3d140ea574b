//! Lambda delivery throughput against the local emulator (serverless-offline running the Node.js
//! example handler), with Switchyard's `LambdaSender` and its one cached client.
//!
//! Run: `cargo bench -p switchyard --bench lambda` (after `tests/setup.sh`). Prints invocations
//! per second at 1 and 16 in flight, each as a ratio to a baseline measured in the same run: a
//! raw HTTP POST loop (reqwest, one connection pool, no SigV4) sending the same invocation
//! bytes to the same emulator URL. A ratio near 1 means the SDK path (signing, endpoint
//! resolution, response parsing) costs little next to the invocation itself. A last line shows
//! what building a client per event would cost, the thing the cache exists to avoid.

// Each benchmark uses part of the end-to-end support.
#[allow(dead_code, unused_imports)]
#[path = "../tests/e2e/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../tests/e2e/lambda/emulator.rs"]
mod emulator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use emulator::{Emulator, WEBHOOKS_FN};
use switchyard::config::{LambdaTarget, Secret, StaticCredentials};
use switchyard::deliver::{self, LambdaSender, Payload, invocation_payload};
use switchyard::event::Event;
use switchyard::json;
use switchyard::queue::Events;
use tokio::sync::Semaphore;

const SECRET: &str = "app-secret";
/// Invocations per measurement, and the most time one may take.
const INVOCATIONS: usize = 2000;
const TIME_CAP: Duration = Duration::from_secs(20);

fn main() {
    let emulator = Emulator::start(SECRET);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(&emulator));
}

async fn run(emulator: &Emulator) {
    let target = LambdaTarget {
        function: WEBHOOKS_FN.into(),
        asynchronous: false,
        region: Some("eu-central-1".into()),
        endpoint: Some(emulator.endpoint().parse().unwrap()),
        credentials: Some(StaticCredentials {
            access_key_id: "AKIDBENCH".into(),
            secret_access_key: Secret::new("bench-secret-key"),
            session_token: None,
        }),
    };
    let payload = Arc::new(webhook_payload());
    let headers = Arc::new(vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Pusher-Key".to_owned(), "app-key".to_owned()),
        (
            "X-Pusher-Signature".to_owned(),
            switchyard::signature::sign(SECRET, &payload.body),
        ),
    ]);
    let url = format!(
        "{}/2015-03-31/functions/{WEBHOOKS_FN}/invocations",
        emulator.endpoint()
    );
    let body = bytes::Bytes::from(invocation_payload(&payload.body, &headers));
    let http = reqwest::Client::new();
    let sender = LambdaSender::new(Duration::from_secs(10));

    println!(
        "lambda bench: emulator serverless-offline 13 (Node.js {}), handler examples/lambda/node",
        node_version()
    );
    println!(
        "payload {} bytes, {} events; {INVOCATIONS} invocations per row (or {}s)",
        payload.body.len(),
        payload.event_count,
        TIME_CAP.as_secs()
    );
    let raw_once = || raw_post(http.clone(), url.clone(), body.clone());
    let cached_once = || {
        sdk(
            sender.clone(),
            target.clone(),
            headers.clone(),
            payload.clone(),
        )
    };
    // Warm up both paths (worker threads in the emulator, connections, the client).
    measure(32, 200, &raw_once).await;
    measure(32, 200, &cached_once).await;

    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "", "raw POST/s", "SDK inv/s", "ratio"
    );
    for in_flight in [1, 16] {
        let raw = measure(in_flight, INVOCATIONS, &raw_once).await;
        let cached = measure(in_flight, INVOCATIONS, &cached_once).await;
        println!(
            "{:<34} {raw:>12.0} {cached:>12.0} {:>8.2}",
            format!("one reused client, {in_flight} in flight"),
            cached / raw
        );
    }
    let raw = measure(1, INVOCATIONS / 10, &raw_once).await;
    let fresh = measure(1, INVOCATIONS / 10, || {
        let sender = LambdaSender::new(Duration::from_secs(10));
        sdk(sender, target.clone(), headers.clone(), payload.clone())
    })
    .await;
    println!(
        "{:<34} {raw:>12.0} {fresh:>12.0} {:>8.2}",
        "a new client per event, 1 in flight",
        fresh / raw
    );
}

/// Runs up to `count` calls of `call` with `in_flight` at once (or until [`TIME_CAP`]);
/// returns successful calls per second. Any failure aborts the bench.
async fn measure<F, Fut>(in_flight: usize, count: usize, call: F) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0;
    while sent < count && started.elapsed() < TIME_CAP {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let call = call();
        tasks.spawn(async move {
            let outcome = call.await;
            drop(permit);
            outcome
        });
        sent += 1;
    }
    while let Some(outcome) = tasks.join_next().await {
        if let Err(e) = outcome.unwrap() {
            panic!("invocation failed: {e}");
        }
    }
    sent as f64 / started.elapsed().as_secs_f64()
}

async fn raw_post(http: reqwest::Client, url: String, body: bytes::Bytes) -> Result<(), String> {
    let response = http
        .post(url)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let failed = response.headers().contains_key("x-amz-function-error");
    response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() && !failed {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

async fn sdk(
    sender: LambdaSender,
    target: LambdaTarget,
    headers: Arc<Vec<(String, String)>>,
    payload: Arc<Payload>,
) -> Result<(), String> {
    sender
        .send(&target, &headers, &payload)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A typical batch: a few presence and client events.
fn webhook_payload() -> Payload {
    let events = [
        r#"{"name":"channel_occupied","channel":"presence-lobby"}"#,
        r#"{"name":"member_added","channel":"presence-lobby","user_id":"42"}"#,
        r#"{"name":"client_event","channel":"private-chat","event":"client-typing","socket_id":"123.456","user_id":"42","data":"{\"text\":\"héllo\"}"}"#,
    ];
    let events: Vec<Event> = events
        .iter()
        .map(|e| Event::from_value(json::parse(e.as_bytes()).unwrap()).unwrap())
        .collect();
    let joined = Events::join(&events);
    deliver::build(&[joined.json], events.len(), switchyard::clock::now_ms())
}

fn node_version() -> String {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
