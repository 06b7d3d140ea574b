//! Timing filter calls, shared by the filter benchmarks: medians of rounds, and sample events.

use std::time::Instant;

use serde_json::json;
use switchyard::event::Event;

/// Rounds per measurement; the median is reported.
pub const ROUNDS: usize = 7;

/// Nanoseconds per event and per call of `call`, which handles `batch` events; `events` per
/// round.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub per_event: f64,
    pub per_call: f64,
}

pub fn measure(batch: usize, events: usize, mut call: impl FnMut()) -> Cost {
    let calls = events / batch;
    for _ in 0..calls / 10 {
        call();
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                call();
            }
            started.elapsed().as_secs_f64() * 1e9 / calls as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    let per_call = rounds[ROUNDS / 2];
    Cost {
        per_event: per_call / batch as f64,
        per_call,
    }
}

/// Client events spread over channels that each webhook of the routes does and does not get.
pub fn sample_events(count: usize) -> Vec<Event> {
    let channels = [
        "private-chat-1",
        "presence-room-7",
        "private-billing-3",
        "public-news",
    ];
    let data = json!({"text": "x".repeat(240), "sent_at": 1_700_000_000_000u64}).to_string();
    (0..count)
        .map(|i| {
            let event = json!({
                "name": "client_event",
                "channel": channels[i % channels.len()],
                "event": "client-message",
                "data": data,
                "socket_id": "123456.7890123",
                "user_id": format!("user-{i}"),
            });
            let value = switchyard::json::parse(event.to_string().as_bytes()).unwrap();
            Event::from_value(value).unwrap()
        })
        .collect()
}
