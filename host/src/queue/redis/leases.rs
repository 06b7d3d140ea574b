//! Lane leases: which gateway delivers each (webhook, lane), so one node at a time does and
//! per-channel order holds across the cluster.
//!
//! Every poll, a node renews its heartbeat and its leases and takes free lanes up to its fair
//! share (its lanes ÷ live nodes, rounded up) in one script ([`scripts::LEASES`]). A lease
//! lives [`LEASE_TTL`] unless renewed: a node that stops renewing (kill -9, network loss)
//! loses its lanes then, and the others take them over from the first unacknowledged job. A
//! node over its share (another joined) lets idle lanes go in two steps: first it stops
//! starting deliveries on them, and at the next poll, if none is in flight, it frees them. At
//! close it frees all of them at once.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::scripts;
use crate::queue::LaneId;

/// How long a lease lasts unless renewed (it is renewed every poll, 250 ms).
pub const LEASE_TTL: Duration = Duration::from_secs(3);

/// This node's view of its leases.
#[derive(Debug, Default)]
pub struct Leases {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    held: HashSet<LaneId>,
    /// Held, but to be let go: no new delivery starts on them.
    releasing: HashSet<LaneId>,
    /// Lanes with a delivery (or jobs taken for one) in progress.
    busy: HashSet<LaneId>,
    /// When Redis last confirmed the leases: past [`LEASE_TTL`] they may be another node's.
    renewed: Option<Instant>,
}

impl State {
    fn current(&self) -> bool {
        self.renewed
            .is_some_and(|at| at.elapsed() < LEASE_TTL - Duration::from_millis(500))
    }
}

fn field(lane: LaneId) -> String {
    format!("{}:{}", lane.queue.0, lane.lane)
}

fn parse(field: &str) -> Option<LaneId> {
    let (queue, lane) = field.split_once(':')?;
    Some(LaneId {
        queue: crate::queue::QueueId(queue.parse().ok()?),
        lane: lane.parse().ok()?,
    })
}

impl Leases {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a delivery on `lane` begun, if this node may start one: it holds the lease, is not
    /// letting it go, and Redis confirmed it recently.
    pub fn begin(&self, lane: LaneId) -> bool {
        let mut state = self.state();
        let may = state.current() && state.held.contains(&lane) && !state.releasing.contains(&lane);
        if may {
            state.busy.insert(lane);
        }
        may
    }

    /// The delivery begun on `lane` ended.
    pub fn end(&self, lane: LaneId) {
        self.state().busy.remove(&lane);
    }

    /// Whether this node still holds `lane` (a delivery in progress goes on while it does).
    pub fn holds(&self, lane: LaneId) -> bool {
        let state = self.state();
        state.current() && state.held.contains(&lane)
    }

    /// One round: renews and takes leases on `lanes` (every lane this node runs), frees those
    /// marked last round and still idle. Returns the lanes newly held, to wake them.
    pub async fn renew(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        prefix: &str,
        node: &str,
        lanes: &[LaneId],
    ) -> Result<Vec<LaneId>, redis::RedisError> {
        let (free, busy) = {
            let state = self.state();
            let free: Vec<LaneId> = (state.releasing.iter())
                .filter(|l| !state.busy.contains(l))
                .copied()
                .collect();
            (free, state.busy.clone())
        };
        let mut invocation = scripts::LEASES.prepare_invoke();
        invocation
            .arg(prefix)
            .arg(node)
            .arg(LEASE_TTL.as_millis() as u64)
            .arg(free.len());
        for lane in &free {
            invocation.arg(field(*lane));
        }
        for lane in lanes.iter().filter(|l| !free.contains(l)) {
            invocation
                .arg(field(*lane))
                .arg(if busy.contains(lane) { "1" } else { "0" });
        }
        let asked = std::time::Instant::now();
        let (held, over): (Vec<String>, usize) = invocation.invoke_async(conn).await?;
        let held: HashSet<LaneId> = held.iter().filter_map(|f| parse(f)).collect();
        let mut state = self.state();
        let gained = held.difference(&state.held).copied().collect();
        for lane in &free {
            state.releasing.remove(lane);
        }
        state.releasing.retain(|l| held.contains(l));
        // Over the fair share: let idle lanes go, the next round frees them.
        let idle: Vec<LaneId> = (held.iter())
            .filter(|l| !state.busy.contains(l) && !state.releasing.contains(l))
            .copied()
            .collect();
        let marked = state.releasing.len();
        for lane in idle.into_iter().take(over.saturating_sub(marked)) {
            state.releasing.insert(lane);
        }
        state.held = held;
        state.renewed = Some(asked);
        Ok(gained)
    }

    /// Frees every lease this node holds and its heartbeat (at close: lanes move at once).
    pub async fn release_all(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        prefix: &str,
        node: &str,
    ) -> Result<(), redis::RedisError> {
        let held: Vec<String> = std::mem::take(&mut self.state().held)
            .into_iter()
            .map(field)
            .collect();
        let mut invocation = scripts::RELEASE.prepare_invoke();
        invocation.arg(prefix).arg(node).arg(held);
        let _: i64 = invocation.invoke_async(conn).await?;
        Ok(())
    }
}
