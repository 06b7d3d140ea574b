//! The load generator: signed Pusher webhooks with a realistic mix of event types and channels,
//! in a closed loop (C connections, each sending its next request when the last is answered)
//! or an open loop (R requests/s on a fixed schedule, latency measured from each request's
//! scheduled time, so a stalled server cannot hide its stall: no coordinated omission).
//!
//! Every event's `data` carries `{"sent_us","seq"}`: the sink measures ingest→sink latency
//! from `sent_us` (the scheduled time in the open loop) and checks `seq` against what was
//! acknowledged. Prints `warm` when the measuring window opens and one JSON report at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::metrics::{Latency, cpu_seconds, histogram, now_ms, now_us};
use crate::sign::{KEY_HEADER, SIGNATURE_HEADER, parse_secrets, sign};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// e.g. http://127.0.0.1:7700/ingest/pusher; several, comma-separated: connection i sends
    /// to target i mod their number.
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// `key=secret,...`: requests go to the apps in turn.
    #[arg(long)]
    pub apps: String,
    #[arg(long, default_value_t = 1)]
    pub events_per_request: u64,
    /// Closed loop: connections sending back to back. Open loop: the most requests in flight.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Requests per second on a fixed schedule (open loop); without it, a closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Distinct channels: 40 % presence-, 40 % private-, 20 % public.
    #[arg(long, default_value_t = 1000)]
    pub channels: u64,
    /// Write the acknowledged seqs here (a bitmap of little-endian u64 words).
    #[arg(long)]
    pub acked_out: Option<std::path::PathBuf>,
}

/// What one run saw in its measuring window (and, for `total_*`, overall).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    pub secs: f64,
    /// From the window's start to the last answer of a request due in it: longer than `secs`
    /// when the server fell behind the schedule. Rates are per this span.
    pub span_secs: f64,
    /// The open loop's schedule; none for a closed loop.
    pub offered_rps: Option<f64>,
    pub requests_ok: u64,
    pub acked_rps: f64,
    pub acked_eps: f64,
    /// Non-200 answers by status, 503s with `Retry-After` apart.
    pub statuses: BTreeMap<u16, u64>,
    pub status_503_retry_after: u64,
    /// No answer: connection refused or reset, or no answer within 30 s.
    pub errors: u64,
    /// Open loop: slots still unsent 10 s past the end (the server fell that far behind).
    pub unsent: u64,
    /// From the (scheduled) send to the answer.
    pub ack_latency: Latency,
    /// The load generator's own CPU seconds in the window.
    pub cpu_secs: f64,
    /// Acknowledged events over the whole run, warm-up included.
    pub total_acked_events: u64,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const LATE_GRACE: Duration = Duration::from_secs(10);

struct Shared {
    args: Args,
    apps: Vec<(String, Vec<u8>)>,
    /// (authority, path) of each target.
    targets: Vec<(String, String)>,
    /// Next seq (closed loop) or next schedule slot (open loop).
    next: AtomicU64,
    start: Instant,
    start_us: u64,
    warm_at: Instant,
    end: Instant,
}

/// One worker's tally, merged at the end.
struct Tally {
    requests_ok: u64,
    statuses: BTreeMap<u16, u64>,
    retry_after: u64,
    errors: u64,
    unsent: u64,
    latency: Histogram<u64>,
    acked_first_seqs: Vec<u64>,
    /// When the last request due in the window was answered.
    last_done: Option<Instant>,
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    let targets = args
        .target
        .iter()
        .map(|target| {
            let uri: hyper::Uri = target.parse()?;
            let authority = uri
                .authority()
                .ok_or_else(|| anyhow::anyhow!("target needs host:port"))?
                .to_string();
            let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            Ok((authority, path))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let apps: Vec<_> = parse_secrets(&args.apps)?
        .into_iter()
        .map(|(k, s)| (k, s.into_bytes()))
        .collect();
    anyhow::ensure!(!apps.is_empty(), "--apps is empty");
    anyhow::ensure!(
        args.events_per_request > 0 && args.connections > 0,
        "nothing to send"
    );
    let start = Instant::now();
    let warm_at = start + Duration::from_secs_f64(args.warmup);
    let shared = Arc::new(Shared {
        apps,
        targets,
        next: AtomicU64::new(0),
        start,
        start_us: now_us(),
        warm_at,
        end: warm_at + Duration::from_secs_f64(args.secs),
        args,
    });

    // Announce the window so the runner snapshots the sink and the server at the same moment.
    let cpu_at_warm = tokio::spawn(async move {
        tokio::time::sleep_until(warm_at).await;
        println!("warm");
        cpu_seconds(std::process::id()).unwrap_or(0.0)
    });
    let workers: Vec<_> = (0..shared.args.connections)
        .map(|i| tokio::spawn(worker(shared.clone(), i)))
        .collect();
    let mut tally = Tally::new();
    for w in workers {
        tally.merge(w.await?);
    }
    let cpu_secs = cpu_seconds(std::process::id()).unwrap_or(0.0) - cpu_at_warm.await?;

    let k = shared.args.events_per_request;
    if let Some(path) = &shared.args.acked_out {
        std::fs::write(path, acked_bitmap(&tally.acked_first_seqs, k))?;
    }
    let secs = shared.args.secs;
    let span_secs = tally
        .last_done
        .map_or(secs, |done| (done - shared.warm_at).as_secs_f64().max(secs));
    let report = LoadReport {
        secs,
        span_secs,
        offered_rps: shared.args.rate,
        requests_ok: tally.requests_ok,
        acked_rps: tally.requests_ok as f64 / span_secs,
        acked_eps: (tally.requests_ok * k) as f64 / span_secs,
        statuses: tally.statuses,
        status_503_retry_after: tally.retry_after,
        errors: tally.errors,
        unsent: tally.unsent,
        ack_latency: Latency::of(&tally.latency),
        cpu_secs,
        total_acked_events: tally.acked_first_seqs.len() as u64 * k,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn worker(s: Arc<Shared>, index: usize) -> Tally {
    let (authority, path) = &s.targets[index % s.targets.len()];
    let mut tally = Tally::new();
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    let k = s.args.events_per_request;
    loop {
        // Which request this is, when it is (or was) due, and the seqs of its events.
        let (slot, due, first_seq) = match s.args.rate {
            None => {
                let now = Instant::now();
                if now >= s.end {
                    break;
                }
                let first = s.next.fetch_add(k, Ordering::Relaxed);
                (first / k, now, first)
            }
            Some(rate) => {
                let slot = s.next.fetch_add(1, Ordering::Relaxed);
                let due = s.start + Duration::from_secs_f64(slot as f64 / rate);
                if due >= s.end {
                    break;
                }
                if Instant::now() > s.end + LATE_GRACE {
                    tally.unsent += 1;
                    continue;
                }
                tokio::time::sleep_until(due).await;
                (slot, due, slot * k)
            }
        };
        // The open loop stamps the scheduled time: a late send counts as latency.
        let sent_us = match s.args.rate {
            None => now_us(),
            Some(_) => s.start_us + (due - s.start).as_micros() as u64,
        };
        let (key, secret) = &s.apps[(slot % s.apps.len() as u64) as usize];
        let body = batch_body(first_seq, k, sent_us, s.args.channels);
        let signature = sign(secret, &body);
        let request = hyper::Request::post(path.as_str())
            .header(HOST, authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(KEY_HEADER, key.as_str())
            .header(SIGNATURE_HEADER, signature)
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, send(authority, &mut conn, request))
            .await
            .unwrap_or(Err(()));
        let done = Instant::now();
        if answer.is_err() {
            conn = None; // a fresh connection for the next request
        }
        if matches!(answer, Ok((200, _))) {
            tally.acked_first_seqs.push(first_seq);
        }
        if due < s.warm_at {
            continue;
        }
        tally.last_done = tally.last_done.max(Some(done));
        let _ = tally.latency.record((done - due).as_micros().max(1) as u64);
        match answer {
            Ok((200, _)) => tally.requests_ok += 1,
            Ok((503, true)) => tally.retry_after += 1,
            Ok((status, _)) => *tally.statuses.entry(status).or_default() += 1,
            Err(()) => tally.errors += 1,
        }
    }
    tally
}

/// Sends on the worker's connection (opening one if needed): the status, and whether the
/// answer had `Retry-After`.
async fn send(
    authority: &str,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, bool), ()> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = Some(connect(authority).await.map_err(|_| ())?);
    }
    let sender = conn.as_mut().expect("just connected");
    sender.ready().await.map_err(|_| ())?;
    let response = sender.send_request(request).await.map_err(|_| ())?;
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key(hyper::header::RETRY_AFTER);
    // Read the answer to the end before the next request on this connection.
    response.into_body().collect().await.map_err(|_| ())?;
    Ok((status, retry_after))
}

async fn connect(authority: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = match tokio::net::TcpStream::connect(authority).await {
        Ok(stream) => stream,
        Err(e) => {
            // Do not spin on a refused connection.
            tokio::time::sleep(Duration::from_millis(10)).await;
            return Err(e.into());
        }
    };
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// `{"time_ms":..,"events":[..]}` with `k` events from `first_seq` on.
pub fn batch_body(first_seq: u64, k: u64, sent_us: u64, channels: u64) -> Vec<u8> {
    let mut out = String::with_capacity(64 + 240 * k as usize);
    let _ = write!(out, r#"{{"time_ms":{},"events":["#, now_ms());
    for seq in first_seq..first_seq + k {
        if seq > first_seq {
            out.push(',');
        }
        push_event(&mut out, seq, sent_us, channels);
    }
    out.push_str("]}");
    out.into_bytes()
}

/// The mix: 80 % client events (presence and private channels), 8 % member added/removed
/// (presence), 12 % channel occupied/vacated (any channel), chosen by a hash of `seq` so every
/// run sends the same sequence.
fn push_event(out: &mut String, seq: u64, sent_us: u64, channels: u64) {
    let r = splitmix64(seq);
    let kind = r % 100;
    let presence = (channels * 2 / 5).max(1);
    let private = (channels * 4 / 5).max(2);
    let pick = r >> 16;
    let channel_index = match kind {
        0..80 => pick % private,   // presence or private
        80..88 => pick % presence, // presence only
        _ => pick % channels.max(3),
    };
    let user = (r >> 40) % 5000;
    let name = match kind {
        0..80 => "client_event",
        80..84 => "member_added",
        84..88 => "member_removed",
        88..94 => "channel_occupied",
        _ => "channel_vacated",
    };
    let _ = write!(out, r#"{{"name":"{name}","channel":""#);
    match channel_index {
        i if i < presence => write!(out, "presence-room-{i}"),
        i if i < private => write!(out, "private-user-{i}"),
        i => write!(out, "chat-{i}"),
    }
    .expect("writing to a String");
    out.push('"');
    match name {
        "client_event" => {
            let _ = write!(
                out,
                r#","event":"client-typing","socket_id":"{}.{}""#,
                1000 + user,
                seq % 100_000
            );
            if channel_index < presence {
                let _ = write!(out, r#","user_id":"user-{user}""#);
            }
        }
        "member_added" | "member_removed" => {
            let _ = write!(out, r#","user_id":"user-{user}""#);
        }
        _ => {}
    }
    let _ = write!(
        out,
        r#","data":"{{\"sent_us\":{sent_us},\"seq\":{seq},\"text\":\"user {user} is typing in the room\"}}"}}"#
    );
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One bit per acknowledged seq, as little-endian u64 words (the sink's `/seen` format).
fn acked_bitmap(first_seqs: &[u64], k: u64) -> Vec<u8> {
    let top = first_seqs.iter().max().map_or(0, |&f| f + k);
    let mut words = vec![0u64; top.div_ceil(64) as usize];
    for &first in first_seqs {
        for seq in first..first + k {
            words[(seq / 64) as usize] |= 1 << (seq % 64);
        }
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

impl Tally {
    fn new() -> Tally {
        Tally {
            requests_ok: 0,
            statuses: BTreeMap::new(),
            retry_after: 0,
            errors: 0,
            unsent: 0,
            latency: histogram(),
            acked_first_seqs: Vec::new(),
            last_done: None,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.requests_ok += other.requests_ok;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.retry_after += other.retry_after;
        self.errors += other.errors;
        self.unsent += other.unsent;
        let _ = self.latency.add(&other.latency);
        self.acked_first_seqs.extend(other.acked_first_seqs);
        self.last_done = self.last_done.max(other.last_done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_with_stamped_data() {
        let body = batch_body(10, 20, 123, 1000);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let events = v["events"].as_array().unwrap();
        assert_eq!(events.len(), 20);
        for (i, e) in events.iter().enumerate() {
            let data: serde_json::Value =
                serde_json::from_str(e["data"].as_str().unwrap()).unwrap();
            assert_eq!(data["seq"], 10 + i as u64);
            assert_eq!(data["sent_us"], 123);
            let (name, channel) = (e["name"].as_str().unwrap(), e["channel"].as_str().unwrap());
            match name {
                "client_event" => assert!(!channel.starts_with("chat-")),
                "member_added" | "member_removed" => assert!(channel.starts_with("presence-")),
                _ => {}
            }
        }
    }

    #[test]
    fn the_mix_has_every_kind() {
        let body = String::from_utf8(batch_body(0, 2000, 1, 1000)).unwrap();
        for name in [
            "client_event",
            "member_added",
            "member_removed",
            "channel_occupied",
            "channel_vacated",
        ] {
            assert!(body.contains(name), "{name}");
        }
        for prefix in ["presence-room-", "private-user-", "\"chat-"] {
            assert!(body.contains(prefix), "{prefix}");
        }
    }

    #[test]
    fn bitmap_marks_each_acked_seq() {
        let bytes = acked_bitmap(&[0, 130], 2);
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(word(0), 0b11);
        assert_eq!(word(2), 0b1100);
    }
}
