//! A webhook's recent deliveries, for the console: each with its attempts (time, status code or
//! error, latency), how it ended, and its events. Bounded and in memory, on the node that made
//! them: the newest [`KEPT`] deliveries, each with its last [`ATTEMPTS_KEPT`] attempts and its
//! events only when they fit in [`PAYLOAD_KEPT`] bytes. Never headers or signatures.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// Deliveries kept per webhook.
pub const KEPT: usize = 100;
/// Attempts kept per delivery (the latest).
const ATTEMPTS_KEPT: usize = 20;
/// The largest events array kept with a delivery.
const PAYLOAD_KEPT: usize = 64 * 1024;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Standing {
    /// An attempt is in flight.
    Sending,
    /// Failed; tried again at `next_attempt_ms`.
    Retrying {
        next_attempt_ms: u64,
    },
    /// Held while its webhook is paused.
    Paused,
    Delivered,
    /// Given up on; `dead_letter` is its id among the dead letters (none if storing it failed).
    DeadLettered {
        dead_letter: Option<u64>,
    },
}

/// One attempt as it ended.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub at_ms: u64,
    /// The receiver's HTTP status (or Lambda's), when there was one.
    pub status: Option<u16>,
    /// Why it failed; none when it succeeded.
    pub error: Option<String>,
    pub latency_ms: f64,
}

/// One delivery.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub lane: u16,
    pub events: u32,
    pub enqueued_ms: u64,
    #[serde(flatten)]
    pub standing: Standing,
    /// Attempts made, including those no longer kept.
    pub attempt_count: u32,
    pub attempts: VecDeque<AttemptRecord>,
    /// The events as a JSON array, when small enough to keep.
    #[serde(skip)]
    pub payload: Option<Vec<u8>>,
    #[serde(skip)]
    pub payload_bytes: usize,
}

/// A delivery whose attempt starts, as [`History::sending`] takes it.
pub struct Sending<'a> {
    pub id: &'a str,
    /// No attempt was made before (it is not in the history).
    pub first: bool,
    pub lane: u16,
    pub events: u32,
    pub enqueued_ms: u64,
    /// The events' JSON, one part per job.
    pub parts: &'a [Vec<u8>],
}

/// One webhook's recent deliveries, newest last.
#[derive(Debug, Default)]
pub struct History(Mutex<VecDeque<DeliveryRecord>>);

impl History {
    fn records(&self) -> std::sync::MutexGuard<'_, VecDeque<DeliveryRecord>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An attempt of delivery `id` starts; the first one this gateway makes (`first`, or one
    /// not kept) adds the delivery, with its events joined from `parts`.
    pub fn sending(&self, delivery: Sending<'_>) {
        let Sending {
            id,
            first,
            lane,
            events,
            enqueued_ms,
            parts,
        } = delivery;
        let mut records = self.records();
        if !first && let Some(record) = find(&mut records, id) {
            record.standing = Standing::Sending;
            return;
        }
        let payload_bytes = parts.iter().map(Vec::len).sum::<usize>() + parts.len() + 1;
        let payload = (payload_bytes <= PAYLOAD_KEPT).then(|| {
            let mut json = Vec::with_capacity(payload_bytes);
            json.push(b'[');
            json.extend_from_slice(&parts.join(&b","[..]));
            json.push(b']');
            json
        });
        if records.len() == KEPT {
            records.pop_front();
        }
        records.push_back(DeliveryRecord {
            id: id.to_owned(),
            lane,
            events,
            enqueued_ms,
            standing: Standing::Sending,
            attempt_count: 0,
            attempts: VecDeque::new(),
            payload,
            payload_bytes,
        });
    }

    /// Delivery `id` now stands at `standing`, after `attempt` if one just ended.
    pub fn update(&self, id: &str, attempt: Option<AttemptRecord>, standing: Standing) {
        let mut records = self.records();
        let Some(record) = find(&mut records, id) else {
            return;
        };
        if let Some(attempt) = attempt {
            if record.attempts.len() == ATTEMPTS_KEPT {
                record.attempts.pop_front();
            }
            record.attempts.push_back(attempt);
            record.attempt_count += 1;
        }
        record.standing = standing;
    }

    /// The deliveries kept, newest first.
    pub fn recent(&self) -> Vec<DeliveryRecord> {
        self.records().iter().rev().cloned().collect()
    }

    /// The attempt that ended last, over every delivery kept.
    pub fn latest_attempt(&self) -> Option<AttemptRecord> {
        let records = self.records();
        (records.iter())
            .filter_map(|d| d.attempts.back())
            .max_by_key(|a| a.at_ms)
            .cloned()
    }

    /// One delivery, if still kept.
    pub fn get(&self, id: &str) -> Option<DeliveryRecord> {
        find(&mut self.records(), id).cloned()
    }
}

/// The newest record of `id`: lanes update their latest delivery, so it is near the back.
fn find<'a>(records: &'a mut VecDeque<DeliveryRecord>, id: &str) -> Option<&'a mut DeliveryRecord> {
    records.iter_mut().rev().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sending<'a>(id: &'a str, first: bool, parts: &'a [Vec<u8>]) -> Sending<'a> {
        Sending {
            id,
            first,
            lane: 0,
            events: 1,
            enqueued_ms: 0,
            parts,
        }
    }

    fn attempt(status: u16) -> AttemptRecord {
        AttemptRecord {
            at_ms: 1,
            status: Some(status),
            error: (status != 200).then(|| format!("HTTP {status}")),
            latency_ms: 1.0,
        }
    }

    #[test]
    fn keeps_the_newest_deliveries_with_their_attempts_and_events() {
        let history = History::default();
        for n in 0..KEPT + 5 {
            let id = format!("d{n}");
            history.sending(sending(&id, true, &[br#"{"n":1}"#.to_vec()]));
            history.update(
                &id,
                Some(attempt(503)),
                Standing::Retrying { next_attempt_ms: 9 },
            );
            history.sending(sending(&id, false, &[]));
            history.update(&id, Some(attempt(200)), Standing::Delivered);
        }
        let recent = history.recent();
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0].id, format!("d{}", KEPT + 4));
        assert_eq!(recent[KEPT - 1].id, "d5");
        let newest = &recent[0];
        assert_eq!(newest.standing, Standing::Delivered);
        assert_eq!(newest.attempt_count, 2);
        let statuses: Vec<_> = newest.attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [Some(503), Some(200)]);
        assert_eq!(newest.payload.as_deref(), Some(&br#"[{"n":1}]"#[..]));
    }

    #[test]
    fn a_large_delivery_is_kept_without_its_events() {
        let history = History::default();
        let big = vec![b'1'; PAYLOAD_KEPT];
        history.sending(sending("big", true, &[big]));
        let record = history.get("big").unwrap();
        assert!(record.payload.is_none());
        assert_eq!(record.payload_bytes, PAYLOAD_KEPT + 2);
    }
}
