//! The receiver at the end of every path: answers 200 to every POST, checks each delivery's
//! signature, counts events, and measures ingest→sink latency from the send timestamp the load
//! generator put in each event's `data`. The runner reads and resets its counters over HTTP.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use axum::routing::{get, post};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::metrics::{Latency, histogram, now_us};
use crate::sign::{KEY_HEADER, SIGNATURE_HEADER, secrets_map, verify};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    pub port: u16,
    /// `key=secret,...`: the apps whose deliveries it checks.
    #[arg(long)]
    pub secrets: String,
}

/// `GET /stats`: the measuring window (since `POST /reset-window`) and totals (since `POST /reset`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SinkStats {
    pub window: WindowStats,
    pub total: TotalStats,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowStats {
    pub requests: u64,
    pub events: u64,
    pub latency: Latency,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TotalStats {
    pub requests: u64,
    pub events: u64,
    /// Distinct `seq` numbers seen; `duplicates` counts the repeats (at-least-once redeliveries).
    pub unique: u64,
    pub duplicates: u64,
    pub bad_signatures: u64,
    /// Events without a readable `{"sent_us","seq"}` in `data`, and bodies that were not JSON.
    pub unparsed: u64,
}

struct Sink {
    secrets: HashMap<String, Vec<u8>>,
    counters: Mutex<Counters>,
}

struct Counters {
    window: WindowStats,
    latency: Histogram<u64>,
    total: TotalStats,
    /// One bit per `seq`, to tell duplicates and check that nothing acknowledged was lost.
    seen: Vec<u64>,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            window: WindowStats::default(),
            latency: histogram(),
            total: TotalStats::default(),
            seen: Vec::new(),
        }
    }
}

/// Seqs beyond this are not tracked in the bitmap (64 MiB of bits): no run comes near it.
const MAX_SEQ: u64 = 1 << 29;

#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow)]
    events: Vec<DeliveredEvent<'a>>,
}

#[derive(Deserialize)]
struct DeliveredEvent<'a> {
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
}

/// What the load generator writes into each event's `data`.
#[derive(Deserialize)]
struct Stamp {
    sent_us: u64,
    seq: u64,
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    let sink = Arc::new(Sink {
        secrets: secrets_map(&args.secrets)?,
        counters: Mutex::new(Counters::new()),
    });
    let app = Router::new()
        .route("/stats", get(stats))
        .route("/reset-window", post(reset_window))
        .route("/reset", post(reset))
        .route("/seen", get(seen))
        .fallback(deliver)
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn deliver(
    State(sink): State<Arc<Sink>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if method != Method::POST {
        return StatusCode::NOT_FOUND;
    }
    let received_us = now_us();
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = match (header(KEY_HEADER), header(SIGNATURE_HEADER)) {
        (Some(key), Some(sig)) => sink
            .secrets
            .get(key)
            .is_some_and(|secret| verify(secret, &body, sig)),
        _ => false,
    };
    // Parse outside the lock; record everything under one lock per request.
    let stamps: Option<Vec<Option<Stamp>>> =
        serde_json::from_slice::<Delivery>(&body).ok().map(|d| {
            d.events
                .iter()
                .map(|e| serde_json::from_str(e.data.as_deref()?).ok())
                .collect()
        });
    let mut c = sink.counters.lock().unwrap();
    c.window.requests += 1;
    c.total.requests += 1;
    if !signed {
        c.total.bad_signatures += 1;
    }
    let Some(stamps) = stamps else {
        c.total.unparsed += 1;
        return StatusCode::OK;
    };
    c.window.events += stamps.len() as u64;
    c.total.events += stamps.len() as u64;
    for stamp in stamps {
        let Some(Stamp { sent_us, seq }) = stamp else {
            c.total.unparsed += 1;
            continue;
        };
        let _ = c.latency.record(received_us.saturating_sub(sent_us).max(1));
        if seq < MAX_SEQ {
            let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
            if c.seen.len() <= word {
                c.seen.resize(word + 1024, 0);
            }
            if c.seen[word] & bit != 0 {
                c.total.duplicates += 1;
            } else {
                c.seen[word] |= bit;
                c.total.unique += 1;
            }
        }
    }
    StatusCode::OK
}

async fn stats(State(sink): State<Arc<Sink>>) -> ([(HeaderName, &'static str); 1], String) {
    let stats = {
        let c = sink.counters.lock().unwrap();
        let mut window = c.window.clone();
        window.latency = Latency::of(&c.latency);
        SinkStats {
            window,
            total: c.total.clone(),
        }
    };
    let json = serde_json::to_string(&stats).expect("stats serialize");
    ([(CONTENT_TYPE, "application/json")], json)
}

async fn reset_window(State(sink): State<Arc<Sink>>) -> StatusCode {
    let mut c = sink.counters.lock().unwrap();
    c.window = WindowStats::default();
    c.latency.reset();
    StatusCode::OK
}

async fn reset(State(sink): State<Arc<Sink>>) -> StatusCode {
    *sink.counters.lock().unwrap() = Counters::new();
    StatusCode::OK
}

/// The seen-seq bitmap as little-endian u64 words (compared with the load generator's acked one).
async fn seen(State(sink): State<Arc<Sink>>) -> Vec<u8> {
    let c = sink.counters.lock().unwrap();
    c.seen.iter().flat_map(|w| w.to_le_bytes()).collect()
}
