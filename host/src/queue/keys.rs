//! Names of things in the queue: a webhook across reloads, its number in the store, its lanes,
//! and the key of each job (ordered by lane, then by sequence number: ingest order).

use std::fmt;
use std::sync::Arc;

use crate::event::Event;

/// A webhook as the config names it: the pair that identifies it across reloads and restarts.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct WebhookKey {
    pub app_id: Arc<str>,
    pub webhook_id: Arc<str>,
}

impl WebhookKey {
    pub fn new(app_id: &str, webhook_id: &str) -> Self {
        Self {
            app_id: app_id.into(),
            webhook_id: webhook_id.into(),
        }
    }
}

impl fmt::Display for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app_id, self.webhook_id)
    }
}

/// A webhook's number in the store, assigned when it first gets a job: job keys carry it
/// instead of the (longer) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub u32);

/// One lane of one webhook: the unit of order (one delivery in flight at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneId {
    pub queue: QueueId,
    pub lane: u16,
}

/// Where a job sits: its lane and its sequence number, global to the store and given in
/// the order jobs are written, so keys of one lane sort in ingest order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKey {
    pub lane: LaneId,
    pub seq: u64,
}

/// Bytes of an encoded [`JobKey`]: queue id (4), lane (2), sequence (8), all big-endian.
pub const JOB_KEY_LEN: usize = 14;

impl JobKey {
    pub fn encode(&self) -> [u8; JOB_KEY_LEN] {
        let mut out = [0; JOB_KEY_LEN];
        out[..6].copy_from_slice(&self.lane.prefix());
        out[6..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; JOB_KEY_LEN] = bytes.try_into().ok()?;
        let (prefix, seq) = bytes.split_at(6);
        Some(Self {
            lane: LaneId {
                queue: QueueId(u32::from_be_bytes(prefix[..4].try_into().ok()?)),
                lane: u16::from_be_bytes(prefix[4..].try_into().ok()?),
            },
            seq: u64::from_be_bytes(seq.try_into().ok()?),
        })
    }
}

impl LaneId {
    /// The first 6 bytes of every job key of this lane.
    pub fn prefix(&self) -> [u8; 6] {
        let mut out = [0; 6];
        out[..4].copy_from_slice(&self.queue.0.to_be_bytes());
        out[4..].copy_from_slice(&self.lane.to_be_bytes());
        out
    }

    /// The key of this lane's job `seq`.
    pub fn job(&self, seq: u64) -> JobKey {
        JobKey { lane: *self, seq }
    }
}

/// The lane of `channel` among `lanes`: FNV-1a, stable across processes and versions (a
/// restart must put a channel in the lane its waiting events are in).
pub fn lane_of(channel: &str, lanes: u16) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in channel.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(lanes.max(1))) as u16
}

/// `events` grouped by their channel's lane among `lanes`, each group in the events' order,
/// groups in the order their first event came.
pub fn by_lane(events: Vec<Event>, lanes: u16) -> Vec<(u16, Vec<Event>)> {
    let mut groups: Vec<(u16, Vec<Event>)> = Vec::new();
    for event in events {
        let lane = lane_of(event.channel(), lanes);
        match groups.iter_mut().find(|(l, _)| *l == lane) {
            Some((_, group)) => group.push(event),
            None => groups.push((lane, vec![event])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_queue_then_lane_then_sequence() {
        let key = |q, lane, seq| {
            LaneId {
                queue: QueueId(q),
                lane,
            }
            .job(seq)
        };
        let mut keys = vec![
            key(2, 0, 1),
            key(1, 1, 0),
            key(1, 0, 300),
            key(1, 0, 7),
            key(1, 256, 1),
        ];
        let mut encoded: Vec<_> = keys.iter().map(JobKey::encode).collect();
        keys.sort();
        encoded.sort();
        let decoded: Vec<_> = encoded.iter().map(|k| JobKey::decode(k).unwrap()).collect();
        assert_eq!(decoded, keys);
        assert_eq!(JobKey::decode(&[0; 13]), None);
    }

    #[test]
    fn a_channel_always_gets_the_same_lane() {
        assert_eq!(lane_of("presence-lobby", 16), lane_of("presence-lobby", 16));
        // Fixed values: a change here would move waiting events to other lanes on upgrade.
        assert_eq!(lane_of("", 16), 0xcbf2_9ce4_8422_2325_u64 as u16 % 16);
        let spread: std::collections::HashSet<u16> = (0..200)
            .map(|i| lane_of(&format!("private-{i}"), 16))
            .collect();
        assert_eq!(spread.len(), 16, "200 channels use every lane");
        assert_eq!(lane_of("anything", 1), 0);
    }
}
