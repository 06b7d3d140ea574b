//! Per-app batching: collect an app's events for a window (or up to a count) and route them
//! together. Events of different apps are never mixed (soketi's batch is process-global).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Dispatcher;
use crate::config::Batching;
use crate::event::Event;
use crate::route::AppPlan;

/// Accepted batches waiting in a channel; bounded, so a stalled batcher pushes back on ingest.
const QUEUED_BATCHES: usize = 1024;

/// The sending side of one app's batcher. Dropping it (with the snapshot that owns it) makes
/// the batcher flush what it holds and stop.
#[derive(Debug)]
pub struct Batcher {
    tx: mpsc::Sender<Vec<Event>>,
}

/// The batcher has stopped: the gateway is shutting down.
#[derive(Debug)]
pub struct BatcherClosed;

impl Batcher {
    /// Starts the batcher task of one app.
    pub fn spawn(plan: Arc<AppPlan>, batching: Batching, dispatcher: Dispatcher) -> Self {
        let (tx, rx) = mpsc::channel(QUEUED_BATCHES);
        let tasks = dispatcher.tasks().clone();
        tasks.spawn(run(rx, plan, batching, dispatcher));
        Self { tx }
    }

    pub async fn submit(&self, events: Vec<Event>) -> Result<(), BatcherClosed> {
        self.tx.send(events).await.map_err(|_| BatcherClosed)
    }
}

async fn run(
    mut rx: mpsc::Receiver<Vec<Event>>,
    plan: Arc<AppPlan>,
    batching: Batching,
    dispatcher: Dispatcher,
) {
    while let Some(first) = rx.recv().await {
        let mut pending = first;
        let deadline = Instant::now() + batching.window;
        let mut open = true;
        while open && pending.len() < batching.max_events {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                next = rx.recv() => match next {
                    Some(events) => pending.extend(events),
                    None => open = false,
                },
            }
        }
        flush(&plan, &dispatcher, pending, batching.max_events);
        if !open {
            break;
        }
    }
}

/// Dispatches `pending` in chunks of at most `max_events`.
fn flush(plan: &Arc<AppPlan>, dispatcher: &Dispatcher, mut pending: Vec<Event>, max_events: usize) {
    while !pending.is_empty() {
        let rest = pending.split_off(pending.len().min(max_events));
        dispatcher.dispatch(plan.clone(), pending);
        pending = rest;
    }
}
