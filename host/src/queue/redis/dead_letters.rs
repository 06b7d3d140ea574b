//! Dead letters in Redis: made from a lane's jobs, listed, replayed and purged; and a removed
//! webhook's jobs moved there.

use redis::Value;

use super::{RedisQueue, corrupt, job_args, lock, scan, scripts};
use crate::clock::now_ms;
use crate::queue::store::StoreError;
use crate::queue::{
    Caps, DeadLetter, DeadLetterFilter, Job, LaneId, NewJob, QueueError, QueueId, REMOVED, Reason,
    Taken, WebhookKey,
};

/// Dead letters fetched per round trip when listing.
const LIST_CHUNK: usize = 500;

/// Bytes a dead letter takes besides its encoding (its id), as the scripts count it.
const DEAD_LETTER_KEY_LEN: u64 = 8;

impl RedisQueue {
    pub async fn dead_letter(
        &self,
        jobs: Vec<Taken>,
        letter: DeadLetter,
    ) -> Result<u64, QueueError> {
        let events = jobs.iter().map(|j| u64::from(j.events)).sum();
        let value = letter.encode();
        let removed: u64 = jobs.iter().map(|j| j.size).sum();
        let delta = (DEAD_LETTER_KEY_LEN + value.len() as u64) as i64 - removed as i64;
        let lane = jobs[0].key.lane; // a delivery has at least one job
        let id = self
            .remove(lane, &jobs, events, delta, None, Some(value))
            .await?;
        self.count_dead_letter(&letter.webhook);
        Ok(id)
    }

    /// Dead-letters the webhook's jobs lane by lane, one dead letter per job as the embedded
    /// store does.
    pub async fn retire(&self, queue: QueueId) -> Result<u64, QueueError> {
        lock(&self.inner.retired).insert(queue);
        let Some(webhook) = self.name_of(queue) else {
            return Ok(0);
        };
        let pattern = format!("{}lane:{}:*", self.inner.prefix, queue.0);
        let keys = scan(&mut self.conn(), &pattern)
            .await
            .map_err(StoreError::from)?;
        let caps = Caps {
            max_events: usize::MAX,
            max_bytes: usize::MAX,
            first_always: true,
        };
        let mut moved = 0;
        for key in keys {
            let Some(lane) = key.rsplit(':').next().and_then(|l| l.parse().ok()) else {
                continue;
            };
            let lane = LaneId { queue, lane };
            loop {
                let jobs = self.read_lane(lane, None, caps).await?;
                if jobs.is_empty() {
                    break;
                }
                for stored in jobs {
                    let letter = removed_letter(webhook.clone(), &stored.job);
                    self.dead_letter(vec![Taken::from(&stored)], letter).await?;
                    moved += 1;
                }
            }
            self.lane(lane).notify.notify_one();
        }
        Ok(moved)
    }

    /// Dead letters matching `filter`, in id order from `from`, at most `limit`.
    pub async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, DeadLetter)>, StoreError> {
        let mut conn = self.conn();
        let dlq = format!("{}dlq", self.inner.prefix);
        let ids: Vec<u64> = redis::cmd("HKEYS")
            .arg(&dlq)
            .query_async(&mut conn)
            .await
            .inspect_err(|e| self.failed(e))?;
        let mut ids: Vec<u64> = ids.into_iter().filter(|id| *id >= from).collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        for chunk in ids.chunks(LIST_CHUNK) {
            let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                .arg(&dlq)
                .arg(chunk)
                .query_async(&mut conn)
                .await
                .inspect_err(|e| self.failed(e))?;
            for (id, value) in chunk.iter().zip(values) {
                let Some(value) = value else { continue };
                let letter = DeadLetter::decode(&value).map_err(corrupt("dead letter"))?;
                if filter.matches(&letter) {
                    out.push((*id, letter));
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    pub async fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        let value: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(format!("{}dlq", self.inner.prefix))
            .arg(id)
            .query_async(&mut self.conn())
            .await
            .inspect_err(|e| self.failed(e))?;
        value
            .map(|v| DeadLetter::decode(&v).map_err(corrupt("dead letter")))
            .transpose()
    }

    /// Writes each letter's jobs and removes the letter in one script, if it is still there.
    pub async fn replay_letters(
        &self,
        letters: Vec<(u64, Vec<NewJob>)>,
    ) -> Result<Vec<u64>, QueueError> {
        let mut replayed = Vec::new();
        for (id, jobs) in letters {
            let mut invocation = scripts::APPEND.prepare_invoke();
            invocation
                .arg(&self.inner.prefix)
                .arg(self.inner.max_bytes)
                .arg("")
                .arg(0)
                .arg(jobs.len())
                .arg(0)
                .arg(id);
            job_args(&mut invocation, &jobs);
            let answer: Vec<Value> = self.run(&invocation).await.map_err(StoreError::from)?;
            if matches!(answer.first(), Some(Value::BulkString(s)) if s == b"ok") {
                replayed.push(id);
                for job in &jobs {
                    self.lane(job.lane).notify.notify_one();
                }
            }
        }
        Ok(replayed)
    }

    pub async fn purge(&self, ids: Vec<u64>) -> Result<u64, QueueError> {
        let mut invocation = scripts::PURGE.prepare_invoke();
        invocation.arg(&self.inner.prefix).arg(ids);
        Ok(self.run(&invocation).await.map_err(StoreError::from)?)
    }
}

/// What a job routed to a removed webhook becomes.
pub(super) fn removed_letter(webhook: WebhookKey, job: &Job) -> DeadLetter {
    DeadLetter {
        webhook,
        events: job.events.clone(),
        reason: Reason::WebhookRemoved,
        detail: REMOVED.into(),
        enqueued_ms: job.enqueued_ms,
        dead_lettered_ms: now_ms(),
        delivery: job.delivery.clone(),
    }
}
