//! One lane's worker: takes the lane's ready jobs in order, coalesces them into one delivery,
//! sends it, and acts on the outcome: done, try again later (holding the lane), or dead
//! letter. One delivery is in flight per lane, so a channel's events reach the webhook in the
//! order they were accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::circuit::{Admission, Circuit};
use super::history::{AttemptRecord, History, Sending, Standing};
use super::lambda::LambdaError;
use super::pause::Pause;
use super::{Attempt, Deliverer, DeliveryError, Destination, Failure};
use crate::clock::now_ms;
use crate::config::Target;
use crate::metrics::WebhookStats;
use crate::queue::{
    Caps, DeadLetter, DeliveryState, Events, JOB_KEY_LEN, Job, JobKey, LaneId, Queue, Reason,
    StoredJob, Taken, WebhookKey, jitter,
};

/// How long a lane waits before reading again after the store failed to answer.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What a lane worker works with.
pub(super) struct Lane {
    pub id: LaneId,
    pub webhook: WebhookKey,
    pub queue: Queue,
    pub deliverer: Deliverer,
    /// The webhook as the running config has it; read again for every attempt.
    pub destination: Arc<ArcSwap<Destination>>,
    pub circuit: Arc<Circuit>,
    pub stats: Arc<WebhookStats>,
    /// When the job at the head of the lane was accepted (0: the lane is empty).
    pub head_enqueued_ms: Arc<AtomicU64>,
    pub history: Arc<History>,
    pub pause: Arc<Pause>,
    pub stop: CancellationToken,
}

/// One delivery: consecutive jobs of the lane, fixed from its first attempt on.
struct Delivery {
    jobs: Vec<Taken>,
    parts: Vec<Vec<u8>>,
    event_count: u32,
    /// When its oldest event was accepted.
    enqueued_ms: u64,
    state: DeliveryState,
    /// The attempt that just ended, until the history has it.
    last_attempt: Option<AttemptRecord>,
}

impl Delivery {
    /// The jobs read from the lane: the head alone when it was attempted before, else all.
    fn from_jobs(jobs: Vec<StoredJob>, store_id: u64) -> Self {
        let taken: Vec<Taken> = jobs.iter().map(Taken::from).collect();
        let (first, last) = (taken[0].key.seq, taken[taken.len() - 1].key.seq);
        let enqueued_ms = jobs[0].job.enqueued_ms;
        let event_count = taken.iter().map(|t| t.events).sum();
        let mut state = None;
        let mut parts = Vec::with_capacity(jobs.len());
        for stored in jobs {
            state = state.or(stored.job.delivery);
            parts.push(stored.job.events.json);
        }
        Self {
            jobs: taken,
            parts,
            event_count,
            enqueued_ms,
            // Named by its first and last job: a delivery read again after a crash, before
            // its first failure was recorded, has the same id only if it has the same events
            // (on Redis, another gateway's reads keep them: `begin_delivery`).
            state: state.unwrap_or_else(|| DeliveryState::fresh(store_id, first, last)),
            last_attempt: None,
        }
    }

    fn first_key(&self) -> JobKey {
        self.jobs[0].key
    }

    fn last_seq(&self) -> u64 {
        self.jobs[self.jobs.len() - 1].key.seq
    }

    /// The delivery as one job, for the store.
    fn as_job(&self) -> Job {
        Job {
            enqueued_ms: self.enqueued_ms,
            events: Events {
                count: self.event_count,
                json: self.parts.join(&b","[..]),
            },
            delivery: Some(self.state.clone()),
        }
    }
}

/// How a delivery ended for the lane.
enum Ended {
    /// Delivered or dead-lettered: read on after this sequence number.
    Done(u64),
    /// The lane was told to stop.
    Stopped,
    /// Its lease lapsed (Redis unreachable, or this node stalled): another node may be
    /// delivering it now.
    Lost,
}

impl Lane {
    /// Runs until stopped.
    pub async fn run(self) {
        let lane = self.queue.lane(self.id);
        // The last sequence number taken off the lane: reads start after it, so they never
        // walk over what was removed.
        let mut cursor: Option<u64> = None;
        // Jobs taken for the next delivery, held while a batching window fills it.
        let mut held: Vec<StoredJob> = Vec::new();
        loop {
            let Some(turn) = self.queue.begin(self.id) else {
                // Another gateway delivers this lane (Redis): when it is ours again, read it
                // from its first job, which is the first one not delivered.
                held.clear();
                cursor = None;
                self.head_enqueued_ms.store(0, Ordering::Relaxed);
                tokio::select! {
                    () = lane.notify.notified() => continue,
                    () = self.stop.cancelled() => return,
                }
            };
            let batching = self.destination.load().batching;
            let events: usize = held.iter().map(|j| j.job.events.count as usize).sum();
            let bytes: usize = held.iter().map(|j| j.size as usize).sum();
            let attempted = held.first().is_some_and(|j| j.job.delivery.is_some());
            if !attempted && events < batching.max_events && bytes < batching.max_bytes {
                let after = held.last().map(|j| j.key.seq).or(cursor);
                let room = (batching.max_events - events, batching.max_bytes - bytes);
                let caps = Caps {
                    max_events: room.0,
                    max_bytes: room.1,
                    first_always: held.is_empty(),
                };
                match self.queue.read_lane(self.id, after, caps).await {
                    Ok(more) => held.extend(more),
                    Err(error) => {
                        tracing::error!(webhook = %self.webhook, lane = self.id.lane, %error, "cannot read the lane");
                        if self.pause(STORE_RETRY).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let Some(head) = held.first() else {
                drop(turn);
                self.head_enqueued_ms.store(0, Ordering::Relaxed);
                tokio::select! {
                    () = lane.notify.notified() => continue,
                    () = self.stop.cancelled() => return,
                }
            };
            self.head_enqueued_ms
                .store(head.job.enqueued_ms, Ordering::Relaxed);
            let fresh = head.job.delivery.is_none();
            let events: usize = held.iter().map(|j| j.job.events.count as usize).sum();
            if fresh && events < batching.max_events {
                // Within the batching window, wait for more events (or for it to pass).
                let window_ends = head.job.enqueued_ms + batching.window.as_millis() as u64;
                let left = window_ends.saturating_sub(now_ms());
                if left > 0 {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(left)) => {}
                        () = lane.notify.notified() => {}
                        () = self.stop.cancelled() => return,
                    }
                    continue;
                }
            }
            let delivery = Delivery::from_jobs(std::mem::take(&mut held), self.queue.store_id());
            match self.deliver(delivery).await {
                Ended::Done(seq) => cursor = Some(seq),
                Ended::Lost => cursor = None,
                Ended::Stopped => return,
            }
        }
    }

    /// Waits `duration` unless stopped first; true when stopped.
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => false,
            () = self.stop.cancelled() => true,
        }
    }

    /// Attempts `delivery` until it is delivered or given up. The lane holds it meanwhile.
    async fn deliver(&self, mut delivery: Delivery) -> Ended {
        let mut closures = self.circuit.closures();
        loop {
            let policy = self.destination.load().webhook.retry;
            let expires_ms = delivery.enqueued_ms + policy.max_age.as_millis() as u64;
            // A retry waits for its time, unless the circuit closes meanwhile: the endpoint is
            // back, so everything waiting goes now.
            let due_in = delivery.state.next_due_ms.saturating_sub(now_ms());
            if due_in > 0 {
                closures.mark_unchanged();
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(due_in)) => {}
                    _ = closures.changed() => {}
                    () = self.stop.cancelled() => return Ended::Stopped,
                }
            }
            if now_ms() >= expires_ms && delivery.state.attempts > 0 {
                let detail = format!(
                    "still failing after {} attempt(s) when max_age ran out: {}",
                    delivery.state.attempts, delivery.state.last_error
                );
                return self.give_up(delivery, Reason::Expired, detail).await;
            }
            if self.pause.is_paused() {
                self.history
                    .update(&delivery.state.id, None, Standing::Paused);
                if self.pause.wait_for_resume(&self.stop).await {
                    return Ended::Stopped;
                }
                continue;
            }
            if !self.queue.holds(self.id) {
                return Ended::Lost;
            }
            let probe = match self.circuit.admit() {
                Admission::Send => false,
                Admission::Probe => true,
                Admission::Wait(until) => {
                    let expiry =
                        Instant::now() + Duration::from_millis(expires_ms.saturating_sub(now_ms()));
                    closures.mark_unchanged();
                    tokio::select! {
                        () = tokio::time::sleep_until(until.min(expiry)) => {}
                        _ = closures.changed() => {}
                        () = self.stop.cancelled() => return Ended::Stopped,
                    }
                    if now_ms() >= expires_ms {
                        let detail = format!(
                            "waited past max_age while the webhook's circuit was open: {}",
                            if delivery.state.last_error.is_empty() {
                                "the endpoint kept failing"
                            } else {
                                &delivery.state.last_error
                            }
                        );
                        return self.give_up(delivery, Reason::Expired, detail).await;
                    }
                    continue;
                }
            };
            if delivery.state.attempts == 0
                && let Err(error) = (self.queue)
                    .begin_delivery(self.id, delivery.first_key().seq, delivery.last_seq())
                    .await
            {
                tracing::error!(webhook = %self.webhook, lane = self.id.lane, %error, "cannot record the delivery's jobs before sending it");
                if self.pause(STORE_RETRY).await {
                    return Ended::Stopped;
                }
                continue;
            }
            let result = self.attempt(&mut delivery).await;
            match result {
                Ok(_) => {
                    self.circuit.succeeded();
                    let waited = now_ms().saturating_sub(delivery.enqueued_ms);
                    self.stats
                        .delivered(delivery.event_count, Duration::from_millis(waited));
                    let last = delivery.last_seq();
                    let attempt = delivery.last_attempt.take();
                    self.history
                        .update(&delivery.state.id, attempt, Standing::Delivered);
                    self.queue.delivered(delivery.jobs).await;
                    return Ended::Done(last);
                }
                Err(error) => {
                    let function_errors = self.destination.load().webhook.retry.function_errors;
                    match error.failure(function_errors) {
                        Failure::Permanent => {
                            // The endpoint answered: for the circuit, it is up.
                            self.circuit.succeeded();
                            let detail = error.to_string();
                            self.log_failure(&delivery, &error, None);
                            return self.give_up(delivery, Reason::Rejected, detail).await;
                        }
                        Failure::Transient { retry_after } => {
                            if self.circuit.failed(&policy, probe) {
                                tracing::warn!(webhook = %self.webhook, "circuit opened: lanes pause, one probe per interval");
                            }
                            let wait = policy.delay(delivery.state.attempts, jitter(), retry_after);
                            let next_due_ms = now_ms() + wait.as_millis() as u64;
                            if next_due_ms >= expires_ms {
                                self.log_failure(&delivery, &error, None);
                                let detail = format!(
                                    "still failing after {} attempt(s) when max_age ran out: {error}",
                                    delivery.state.attempts
                                );
                                return self.give_up(delivery, Reason::Expired, detail).await;
                            }
                            delivery.state.next_due_ms = next_due_ms;
                            self.log_failure(&delivery, &error, Some(wait));
                            self.record_retry(&mut delivery).await;
                            let attempt = delivery.last_attempt.take();
                            let standing = Standing::Retrying {
                                next_attempt_ms: next_due_ms,
                            };
                            self.history.update(&delivery.state.id, attempt, standing);
                        }
                    }
                }
            }
        }
    }

    /// Sends one attempt, built anew (fresh `time_ms` and signature) for the config running now.
    async fn attempt(&self, delivery: &mut Delivery) -> Result<u16, DeliveryError> {
        let destination = self.destination.load_full();
        let now = now_ms();
        self.history.sending(Sending {
            id: &delivery.state.id,
            first: delivery.state.attempts == 0,
            lane: self.id.lane,
            events: delivery.event_count,
            enqueued_ms: delivery.enqueued_ms,
            parts: &delivery.parts,
        });
        let state = &mut delivery.state;
        state.attempts += 1;
        if state.attempts == 1 {
            state.first_attempt_ms = now;
        } else {
            self.stats.retried();
        }
        state.last_attempt_ms = now;
        let payload = super::build(&delivery.parts, delivery.event_count as usize, now);
        let attempt = Attempt {
            delivery_id: &state.id,
            number: state.attempts,
        };
        let started = Instant::now();
        let result = self
            .deliverer
            .deliver(&destination, &payload, &attempt)
            .await;
        let latency = started.elapsed();
        self.stats.attempted(latency);
        delivery.last_attempt = Some(AttemptRecord {
            at_ms: now,
            status: match &result {
                Ok(status) => Some(*status),
                Err(error) => error.status(),
            },
            error: result.as_ref().err().map(ToString::to_string),
            latency_ms: latency.as_secs_f64() * 1000.0,
        });
        if matches!(destination.webhook.target, Target::Lambda(_)) {
            let function_error = matches!(
                result,
                Err(DeliveryError::Lambda(LambdaError::FunctionError { .. }))
            );
            self.stats.lambda_invoked(function_error);
        }
        if let Err(error) = &result {
            self.stats.failed();
            delivery.state.last_error = error.to_string();
        }
        result
    }

    /// Keeps the failed delivery, fixed, at the head of the lane with its new state.
    async fn record_retry(&self, delivery: &mut Delivery) {
        let job = delivery.as_job();
        let key = delivery.first_key();
        let size = (JOB_KEY_LEN + job.encoded_len()) as u64;
        match self.queue.reschedule(delivery.jobs.clone(), key, job).await {
            Ok(()) => {
                delivery.jobs = vec![Taken {
                    key,
                    size,
                    events: delivery.event_count,
                }];
            }
            Err(error) => tracing::error!(
                webhook = %self.webhook,
                delivery = %delivery.state.id,
                %error,
                "cannot record the failed attempt; it is retried from memory"
            ),
        }
    }

    /// Moves the delivery to the dead letters.
    async fn give_up(&self, mut delivery: Delivery, reason: Reason, detail: String) -> Ended {
        self.stats.gave_up();
        let last = delivery.last_seq();
        let logged_detail = detail.clone();
        let letter = DeadLetter {
            webhook: self.webhook.clone(),
            events: Events {
                count: delivery.event_count,
                json: delivery.parts.join(&b","[..]),
            },
            reason,
            detail,
            enqueued_ms: delivery.enqueued_ms,
            dead_lettered_ms: now_ms(),
            delivery: (delivery.state.attempts > 0).then(|| delivery.state.clone()),
        };
        let stored = self.queue.dead_letter(delivery.jobs, letter).await;
        let standing = Standing::DeadLettered {
            dead_letter: stored.as_ref().ok().copied(),
        };
        let attempt = delivery.last_attempt.take();
        self.history.update(&delivery.state.id, attempt, standing);
        match stored {
            Ok(id) => {
                tracing::warn!(
                    app = %self.webhook.app_id,
                    webhook = %self.webhook.webhook_id,
                    delivery = %delivery.state.id,
                    dead_letter = id,
                    reason = reason.as_str(),
                    detail = %logged_detail,
                    events = delivery.event_count,
                    "delivery dead-lettered; replay it with `switchyard dlq replay {id}`"
                );
                Ended::Done(last)
            }
            Err(error) => {
                // Left in the lane: it is tried again after a restart.
                tracing::error!(webhook = %self.webhook, delivery = %delivery.state.id, %error, "cannot dead-letter the delivery");
                Ended::Done(last)
            }
        }
    }

    /// One line per failed attempt, with everything needed to find the delivery again.
    fn log_failure(&self, delivery: &Delivery, error: &DeliveryError, retry_in: Option<Duration>) {
        let destination = self.destination.load();
        tracing::warn!(
            app = %self.webhook.app_id,
            webhook = %self.webhook.webhook_id,
            target = %destination.webhook.target.describe(),
            delivery = %delivery.state.id,
            attempt = delivery.state.attempts,
            events = delivery.event_count,
            status = error.status(),
            error = %error,
            retry_in_ms = retry_in.map(|d| d.as_millis() as u64),
            next_attempt_ms = retry_in.map(|_| delivery.state.next_due_ms),
            "delivery failed"
        );
    }
}
