//! The minimal durable design, as a reference for what that design allows on this machine
//! (issue 10, "The limit of this design, measured"): verify the signature, parse the events,
//! append them to a file with one `fdatasync` shared by every request waiting for it (group
//! commit), answer 200 only after that sync, and let `lanes` workers (lane = hash(channel) %
//! lanes) each deliver up to `max_per_delivery` waiting events per signed request, one request
//! in flight per lane.
//!
//! Waiting events are kept in memory for delivery; the file is written only for durability
//! (nothing reads it back). It is a yardstick, not a product: no retry schedule, no dead
//! letters, no bound on the backlog.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics::now_ms;
use crate::sign::{KEY_HEADER, SIGNATURE_HEADER, sign, verify};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    pub listen: String,
    /// The receiver of every delivery.
    #[arg(long)]
    pub to: String,
    /// The one app: inbound requests must carry this key and its signature; deliveries too.
    #[arg(long)]
    pub key: String,
    #[arg(long)]
    pub secret: String,
    /// Directory of the append-only file.
    #[arg(long)]
    pub dir: PathBuf,
    /// Skip the fdatasync before answering (survives a process crash, not a power loss).
    #[arg(long)]
    pub no_fsync: bool,
    #[arg(long, default_value_t = 8)]
    pub lanes: usize,
    /// Events per delivery at most (1: one event per request to the receiver).
    #[arg(long, default_value_t = 100)]
    pub max_per_delivery: usize,
}

/// One request's events, on their way to the file.
struct Append {
    /// Each event's JSON and its lane.
    events: Vec<(usize, Bytes)>,
    done: oneshot::Sender<()>,
}

#[derive(Default)]
struct Lane {
    waiting: Mutex<VecDeque<Bytes>>,
    wake: Notify,
}

struct Durable {
    key: String,
    secret: Vec<u8>,
    lanes: usize,
    appends: mpsc::UnboundedSender<Append>,
}

#[derive(Deserialize)]
struct Batch {
    events: Vec<serde_json::Value>,
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.lanes > 0 && args.max_per_delivery > 0,
        "lanes and max_per_delivery must be positive"
    );
    let lanes: Arc<Vec<Lane>> = Arc::new((0..args.lanes).map(|_| Lane::default()).collect());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.dir.join("events.log"))?;
    let (appends, rx) = mpsc::unbounded_channel();
    let writer_lanes = lanes.clone();
    let fsync = !args.no_fsync;
    std::thread::spawn(move || write_loop(file, fsync, rx, &writer_lanes));

    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    for lane in 0..args.lanes {
        let (lanes, client, to) = (lanes.clone(), client.clone(), args.to.clone());
        let (key, secret, max) = (
            args.key.clone(),
            args.secret.clone().into_bytes(),
            args.max_per_delivery,
        );
        tokio::spawn(async move { deliver_loop(&lanes[lane], client, to, key, secret, max).await });
    }

    let durable = Arc::new(Durable {
        key: args.key,
        secret: args.secret.into_bytes(),
        lanes: args.lanes,
        appends,
    });
    let app = Router::new()
        .fallback(axum::routing::post(ingest))
        .with_state(durable);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn ingest(
    State(d): State<Arc<Durable>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let authentic = header(KEY_HEADER) == Some(d.key.as_str())
        && header(SIGNATURE_HEADER).is_some_and(|sig| verify(&d.secret, &body, sig));
    if !authentic {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let Ok(batch) = serde_json::from_slice::<Batch>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed".into());
    };
    let mut events = Vec::with_capacity(batch.events.len());
    for event in &batch.events {
        let Some(channel) = event.get("channel").and_then(|c| c.as_str()) else {
            return (StatusCode::BAD_REQUEST, "event without channel".into());
        };
        let lane = (fnv1a(channel.as_bytes()) % d.lanes as u64) as usize;
        events.push((
            lane,
            Bytes::from(serde_json::to_vec(event).expect("a Value serializes")),
        ));
    }
    let accepted = events.len();
    let (done, synced) = oneshot::channel();
    if d.appends.send(Append { events, done }).is_err() || synced.await.is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
    }
    (StatusCode::OK, format!(r#"{{"accepted":{accepted}}}"#))
}

/// Group commit: takes every append waiting, writes them with one write and one fdatasync,
/// then hands the events to their lanes and answers every request of the group.
fn write_loop(
    mut file: std::fs::File,
    fsync: bool,
    mut rx: mpsc::UnboundedReceiver<Append>,
    lanes: &[Lane],
) {
    let mut buf = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        buf.clear();
        for append in &group {
            for (_, event) in &append.events {
                buf.extend_from_slice(event);
                buf.push(b'\n');
            }
        }
        let written = file.write_all(&buf).and_then(|()| match fsync {
            true => file.sync_data(),
            false => Ok(()),
        });
        if let Err(e) = written {
            // Dropping `done` answers 500: nothing of the group was acknowledged.
            eprintln!("durable-ref: write failed: {e}");
            continue;
        }
        for append in group {
            for (lane, event) in append.events {
                lanes[lane].waiting.lock().unwrap().push_back(event);
                lanes[lane].wake.notify_one();
            }
            let _ = append.done.send(());
        }
    }
}

/// One lane: one delivery in flight, up to `max` waiting events each, retried until a 2xx.
async fn deliver_loop(
    lane: &Lane,
    client: reqwest::Client,
    to: String,
    key: String,
    secret: Vec<u8>,
    max: usize,
) {
    loop {
        let events: Vec<Bytes> = {
            let mut waiting = lane.waiting.lock().unwrap();
            let n = waiting.len().min(max);
            waiting.drain(..n).collect()
        };
        if events.is_empty() {
            // A push between the check and here left a permit: no wake-up is lost.
            lane.wake.notified().await;
            continue;
        }
        let mut body = format!(r#"{{"time_ms":{},"events":["#, now_ms()).into_bytes();
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(event);
        }
        body.extend_from_slice(b"]}");
        let signature = sign(&secret, &body);
        let body = Bytes::from(body);
        loop {
            let sent = client
                .post(&to)
                .header(header::CONTENT_TYPE, "application/json")
                .header(KEY_HEADER, &key)
                .header(SIGNATURE_HEADER, &signature)
                .body(body.clone())
                .send()
                .await;
            if let Ok(response) = sent {
                let ok = response.status().is_success();
                let _ = response.bytes().await;
                if ok {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// FNV-1a: a fixed, fast hash, so a channel always maps to the same lane.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
