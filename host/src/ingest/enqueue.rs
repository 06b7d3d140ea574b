//! From a routed batch to the queue's jobs: for each webhook, its events grouped by lane
//! (their channel's hash), in order, at most `max_events` per job; and the events its filters
//! dead-lettered.

use crate::clock::now_ms;
use crate::gateway::AppEntry;
use crate::metrics::add;
use crate::queue::{DeadLetter, Events, Job, LaneId, NewJob, Reason, by_lane};
use crate::route::Routed;

/// The jobs and dead letters of one accepted batch.
pub fn jobs_of(entry: &AppEntry, routed: Vec<Routed>) -> (Vec<NewJob>, Vec<DeadLetter>) {
    let now = now_ms();
    let mut jobs = Vec::new();
    let mut dead_letters = Vec::new();
    for Routed {
        webhook_index,
        outcome,
    } in routed
    {
        let route = &entry.plan.webhooks[webhook_index];
        add(&route.stats.routed, outcome.delivered.len() as u64);
        if !outcome.dead_lettered.is_empty() {
            add(
                &route.stats.dead_lettered_by_filter,
                outcome.dead_lettered.len() as u64,
            );
            let detail = outcome
                .failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            tracing::warn!(
                app = %entry.app().id,
                webhook = %route.webhook.id,
                events = outcome.dead_lettered.len(),
                error = %detail,
                "events dead-lettered by a failing filter"
            );
            dead_letters.push(DeadLetter {
                webhook: route.key(),
                events: Events::join(&outcome.dead_lettered),
                reason: Reason::FilterFailed,
                detail,
                enqueued_ms: now,
                dead_lettered_ms: now,
                delivery: None,
            });
        }
        let lanes = route.webhook.lanes;
        let max_events = entry.app().batching.max_events;
        for (lane, events) in by_lane(outcome.delivered, lanes) {
            for chunk in events.chunks(max_events) {
                let job = Job {
                    enqueued_ms: now,
                    events: Events::join(chunk),
                    delivery: None,
                };
                let queue = entry.queues[webhook_index];
                jobs.push(NewJob::new(LaneId { queue, lane }, job));
            }
        }
    }
    (jobs, dead_letters)
}
