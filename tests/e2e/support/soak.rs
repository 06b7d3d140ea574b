//! The reload soak: module swaps under a steady load, checked event by event.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Gateway, KEY, SECRET, Sink, batch, file_hash, module_hash, post_signed, replace_file};

/// What [`reload_soak`] saw.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub sent: u64,
    pub delivered: u64,
    pub duplicates: u64,
    /// Events ingested after a swap was observed (and before the next began) that carry
    /// another version's stamp.
    pub stale: Vec<u64>,
    /// Events checked against the version live when they were ingested.
    pub checked: u64,
    /// From the rename of a new module to `/status` showing it live.
    pub swap_latencies: Vec<Duration>,
    /// Ingest requests answered 200 during each swap (while the new module loaded).
    pub acked_while_swapping: Vec<u64>,
}

/// Under a steady load of signed webhooks (one event each, numbered in the order their POST
/// started), replaces the gateway's stamp filter `module` `reloads` times, alternating
/// `versions` (stamped `v1`, `v2`), then checks what the sink received. The gateway's one
/// webhook must run the stamp filter and deliver to `sink`. A swap may take up to
/// `swap_patience` (a JavaScript module's first compile takes seconds).
pub fn reload_soak(
    gateway: &Arc<Gateway>,
    sink: &Sink,
    module: &Path,
    versions: &[PathBuf; 2],
    reloads: usize,
    swap_patience: Duration,
) -> SoakReport {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let next_seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (gateway, next_seq, stop) = (gateway.clone(), next_seq.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let seq = next_seq.fetch_add(1, Ordering::SeqCst);
                let body = batch(&[
                    serde_json::json!({"name": "channel_occupied", "channel": format!("seq-{seq}")}),
                ]);
                assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
            }
        })
    };
    let mut report = SoakReport::default();
    let mut windows = Vec::new();
    for i in 1..=reloads {
        let version = &versions[i % 2];
        let want = file_hash(version);
        let written = Instant::now();
        let before = next_seq.load(Ordering::SeqCst);
        replace_file(version, module);
        gateway.wait_for_status_within("the swap", swap_patience, |s| module_hash(s) == want);
        report.swap_latencies.push(written.elapsed());
        // Requests started during the swap, all but the last in flight answered.
        let during = next_seq.load(Ordering::SeqCst).saturating_sub(before + 1);
        report.acked_while_swapping.push(during);
        // POSTs started from here on must meet the new version.
        let first = next_seq.load(Ordering::SeqCst) + 1;
        std::thread::sleep(Duration::from_millis(50));
        let last = next_seq.load(Ordering::SeqCst).saturating_sub(1);
        windows.push((first, last, format!("v{}", i % 2 + 1)));
    }
    stop.store(true, Ordering::SeqCst);
    loader.join().unwrap();
    report.sent = next_seq.load(Ordering::SeqCst);

    // Deliveries may carry several events (a lane coalesces what waits): count events.
    let events =
        |got: &[super::Received]| -> u64 { got.iter().map(|r| r.event_names().len() as u64).sum() };
    let mut stamps = HashMap::new();
    let deadline = Instant::now() + super::PATIENCE;
    let mut got = Vec::new();
    while events(&got) < report.sent {
        match sink.next_within(deadline.saturating_duration_since(Instant::now())) {
            Some(r) => got.push(r),
            None => {
                let seen: std::collections::HashSet<u64> = got
                    .iter()
                    .flat_map(|r| r.event_names())
                    .map(|(_, c)| c["seq-".len()..].parse().unwrap())
                    .collect();
                let missing: Vec<u64> = (0..report.sent).filter(|s| !seen.contains(s)).collect();
                let warnings: Vec<String> = gateway
                    .logs()
                    .into_iter()
                    .filter(|l| {
                        l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\"")
                    })
                    .collect();
                panic!(
                    "{} of {} events delivered; missing {missing:?}; warnings:\n{}",
                    events(&got),
                    report.sent,
                    warnings.join("\n")
                );
            }
        }
    }
    for delivery in got {
        for event in delivery.json()["events"].as_array().unwrap() {
            let seq: u64 = event["channel"].as_str().unwrap()["seq-".len()..]
                .parse()
                .unwrap();
            let stamp = event["filter_stamp"].as_str().unwrap().to_owned();
            report.delivered += 1;
            if stamps.insert(seq, stamp).is_some() {
                report.duplicates += 1;
            }
        }
    }
    for (first, last, stamp) in windows {
        for seq in first..=last {
            report.checked += 1;
            if stamps.get(&seq) != Some(&stamp) {
                report.stale.push(seq);
            }
        }
    }
    report
}
