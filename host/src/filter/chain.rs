//! A webhook's filters in order, applied to one batch.

use std::sync::Arc;
use std::time::Instant;

use super::loaded::{LoadedFilter, Verdict};
use super::{FilterContext, FilterError, OnError};
use crate::event::Event;
use crate::metrics::{FilterStats, add, inc};

/// The filters of one webhook (the app's first, then the webhook's own), in order, each with
/// its counters in this chain.
#[derive(Debug, Default, Clone)]
pub struct FilterChain(Vec<(Arc<LoadedFilter>, Arc<FilterStats>)>);

/// What a chain made of a batch.
#[derive(Debug, Default)]
pub struct ChainOutcome {
    /// What to deliver to the webhook.
    pub delivered: Vec<Event>,
    /// A batch a failing filter with `on_error = "dead_letter"` set aside, as it reached it.
    pub dead_lettered: Vec<Event>,
    /// Each filter failure on the way (several only when filters `pass` on error).
    pub failures: Vec<FilterError>,
}

impl FilterChain {
    pub fn new(filters: Vec<(Arc<LoadedFilter>, Arc<FilterStats>)>) -> Self {
        Self(filters)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The filters, in order.
    pub fn filters(&self) -> impl Iterator<Item = &Arc<LoadedFilter>> {
        self.0.iter().map(|(filter, _)| filter)
    }

    /// Runs the batch through every filter in order, each getting the whole batch the one
    /// before left. When a filter fails, its `on_error` decides: `drop` ends the batch here,
    /// `pass` hands it on unchanged, `dead_letter` sets it aside.
    pub async fn apply(&self, ctx: &FilterContext, mut events: Vec<Event>) -> ChainOutcome {
        let mut outcome = ChainOutcome::default();
        for (filter, stats) in &self.0 {
            if events.is_empty() {
                break;
            }
            let started = Instant::now();
            let (batch, verdicts) = filter.decide(ctx, events).await;
            stats.call_seconds.observe_duration(started.elapsed());
            inc(&stats.calls);
            let error = match verdicts {
                Ok(verdicts) => {
                    let given = batch.len();
                    events = apply_verdicts(batch, verdicts);
                    add(&stats.dropped, (given - events.len()) as u64);
                    continue;
                }
                Err(error) => error,
            };
            inc(&stats.failures);
            tracing::warn!(
                filter = filter.name(),
                webhook = %ctx.webhook_id,
                events = batch.len(),
                on_error = ?filter.on_error(),
                %error,
                "filter failed",
            );
            outcome.failures.push(error);
            match filter.on_error() {
                OnError::Pass => events = batch,
                OnError::Drop => return outcome,
                OnError::DeadLetter => {
                    outcome.dead_lettered = batch;
                    return outcome;
                }
            }
        }
        outcome.delivered = events;
        outcome
    }
}

/// The batch after one filter: kept events, and replacements in their place.
pub fn apply_verdicts(events: Vec<Event>, verdicts: Vec<Verdict>) -> Vec<Event> {
    events
        .into_iter()
        .zip(verdicts)
        .filter_map(|(event, verdict)| match verdict {
            Verdict::Keep => Some(event),
            Verdict::Drop => None,
            Verdict::Replace(replacement) => Some(replacement),
        })
        .collect()
}
