//! What the writer hands a lane besides the store: a wake-up when jobs are written to it, and,
//! while the lane keeps up, the jobs themselves, so its worker takes them from memory instead
//! of reading back what was just written.
//!
//! The hand-off holds jobs only while it holds *every* job of the lane past what the worker has
//! taken (`complete`). It starts incomplete (after a start, jobs wait in the store), becomes
//! complete when the worker's read of the store reached the lane's end with nothing written
//! since, and falls back to incomplete, dropping what it holds, past a bound: a lane with a
//! backlog reads from the store, and memory stays bounded whatever the backlog.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::Caps;
use super::store::StoredJob;

/// The most jobs a lane holds in memory.
const MAX_JOBS: usize = 1024;

/// The most bytes of jobs a lane holds in memory.
const MAX_BYTES: u64 = 1 << 20;

/// One lane's wake-up and hand-off.
#[derive(Debug, Default)]
pub struct LaneState {
    /// Wakes the worker when jobs are written to the lane. A wake-up that finds no waiter is
    /// kept for the next wait, so a lane never misses one.
    pub notify: Notify,
    handoff: Mutex<Handoff>,
}

#[derive(Debug, Default)]
struct Handoff {
    jobs: VecDeque<StoredJob>,
    bytes: u64,
    complete: bool,
    /// The sequence number of the last job written to the lane.
    last_written: u64,
    /// The sequence number of the last job the worker has taken, from the store or from here.
    /// The writer reports a commit after the store has it, so a worker reading the store can
    /// take a job before it is reported: a report of one taken already is ignored.
    taken: u64,
}

impl Handoff {
    fn drop_all(&mut self) {
        self.complete = false;
        self.jobs.clear();
        self.bytes = 0;
    }
}

impl LaneState {
    fn handoff(&self) -> MutexGuard<'_, Handoff> {
        self.handoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer wrote `job` (committed): kept for the worker while the hand-off is complete
    /// and within bounds.
    pub fn written(&self, job: StoredJob) {
        let mut handoff = self.handoff();
        handoff.last_written = handoff.last_written.max(job.key.seq);
        if !handoff.complete || job.key.seq <= handoff.taken {
            return;
        }
        if handoff.jobs.len() >= MAX_JOBS || handoff.bytes + job.size > MAX_BYTES {
            handoff.drop_all();
            return;
        }
        handoff.bytes += job.size;
        handoff.jobs.push_back(job);
    }

    /// The lane's jobs changed behind the hand-off's back (its webhook was retired): read the
    /// store again.
    pub fn reset(&self) {
        self.handoff().drop_all();
    }

    /// The next jobs, as many as `caps` allow, if the hand-off holds every job of the lane;
    /// `None` when the store must be read.
    pub fn take(&self, caps: Caps) -> Option<Vec<StoredJob>> {
        let mut handoff = self.handoff();
        if !handoff.complete {
            return None;
        }
        let (mut events, mut bytes) = (0usize, 0usize);
        let mut out = Vec::new();
        while let Some(next) = handoff.jobs.front() {
            let count = next.job.events.count as usize;
            let len = next.size as usize;
            if !caps.fits(out.len(), events + count, bytes + len) {
                break;
            }
            events += count;
            bytes += len;
            let job = handoff.jobs.pop_front().expect("front exists");
            handoff.bytes -= job.size;
            handoff.taken = job.key.seq;
            out.push(job);
            if events >= caps.max_events {
                break;
            }
        }
        Some(out)
    }

    /// The worker read the store to the lane's end, the last job there being `last_seen`:
    /// from now on the hand-off holds every job, unless one was written since.
    pub fn read_to_end(&self, last_seen: u64) {
        let mut handoff = self.handoff();
        handoff.taken = handoff.taken.max(last_seen);
        if handoff.last_written <= last_seen {
            handoff.jobs.clear();
            handoff.bytes = 0;
            handoff.complete = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Events, Job, LaneId, QueueId};

    fn job(seq: u64) -> StoredJob {
        StoredJob {
            key: LaneId {
                queue: QueueId(1),
                lane: 0,
            }
            .job(seq),
            size: 100,
            job: Job {
                enqueued_ms: 1,
                events: Events {
                    count: 1,
                    json: b"{}".to_vec(),
                },
                delivery: None,
            },
        }
    }

    fn seqs(jobs: &[StoredJob]) -> Vec<u64> {
        jobs.iter().map(|j| j.key.seq).collect()
    }

    fn up_to(max_events: usize) -> Caps {
        Caps {
            max_events,
            max_bytes: usize::MAX,
            first_always: true,
        }
    }

    #[test]
    fn holds_jobs_only_once_the_store_was_read_to_its_end_with_nothing_written_since() {
        let lane = LaneState::default();
        lane.written(job(1));
        assert!(lane.take(up_to(10)).is_none(), "incomplete: read the store");
        // The worker read the store up to 0: job 1 was written since, stay incomplete.
        lane.read_to_end(0);
        assert!(lane.take(up_to(10)).is_none());
        lane.read_to_end(1);
        assert_eq!(lane.take(up_to(10)).map(|j| seqs(&j)), Some(vec![]));
        lane.written(job(2));
        lane.written(job(3));
        assert_eq!(lane.take(up_to(1)).map(|j| seqs(&j)), Some(vec![2]));
        assert_eq!(lane.take(up_to(10)).map(|j| seqs(&j)), Some(vec![3]));
    }

    #[test]
    fn a_job_the_worker_read_from_the_store_before_its_commit_was_reported_is_not_held_again() {
        let lane = LaneState::default();
        lane.written(job(4));
        // The store already has 5 and 6 when the worker reads it; the writer has not yet
        // reported them.
        lane.read_to_end(6);
        lane.written(job(5));
        lane.written(job(6));
        lane.written(job(7));
        assert_eq!(
            lane.take(up_to(10)).map(|j| seqs(&j)),
            Some(vec![7]),
            "5 and 6 were taken from the store: held again, they would be delivered twice"
        );
    }

    #[test]
    fn past_its_bound_it_lets_go_and_the_store_is_read_again() {
        let lane = LaneState::default();
        lane.read_to_end(0);
        for seq in 1..=(MAX_JOBS as u64 + 1) {
            lane.written(job(seq));
        }
        assert!(lane.take(up_to(10)).is_none());
        lane.read_to_end(MAX_JOBS as u64 + 1);
        lane.written(job(5000));
        lane.reset();
        assert!(lane.take(up_to(10)).is_none(), "reset: read the store");
    }
}
