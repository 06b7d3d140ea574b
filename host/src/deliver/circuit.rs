//! One circuit breaker per webhook, shared by its lanes: after `open_circuit_after`
//! consecutive failed attempts the circuit opens, every lane pauses, and one lane at a time
//! sends a probe per backoff interval. The first success closes it and wakes every lane, so a
//! dead endpoint sees about one request per interval, not one per lane or per job.
//!
//! Kept in memory, keyed by webhook, across reloads; a restart starts closed.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::queue::RetryPolicy;

/// Whether a lane may send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The circuit is closed: send.
    Send,
    /// The circuit is open and this lane sends the probe: report its outcome.
    Probe,
    /// The circuit is open: ask again at this instant, or when [`Circuit::closures`] changes.
    Wait(Instant),
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    failed_probes: u32,
    next_probe: Instant,
    /// The wait before `next_probe`; lanes waiting on a probe in flight look again after it.
    interval: Duration,
    probing: bool,
}

/// A webhook's circuit.
#[derive(Debug)]
pub struct Circuit {
    state: Mutex<State>,
    /// Counts closings: a lane waiting for the circuit (or for its own retry) wakes when it
    /// changes and tries at once.
    closed: watch::Sender<u64>,
}

impl Default for Circuit {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            closed: watch::Sender::new(0),
        }
    }
}

impl Circuit {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the circuit is open now.
    pub fn is_open(&self) -> bool {
        self.state().open.is_some()
    }

    /// Changes every time the circuit closes.
    pub fn closures(&self) -> watch::Receiver<u64> {
        self.closed.subscribe()
    }

    /// Asks to send one attempt now.
    pub fn admit(&self) -> Admission {
        let mut state = self.state();
        let Some(open) = &mut state.open else {
            return Admission::Send;
        };
        let now = Instant::now();
        if open.probing {
            // Its outcome wakes the lanes when it closes the circuit.
            return Admission::Wait(now + open.interval);
        }
        if now < open.next_probe {
            return Admission::Wait(open.next_probe);
        }
        open.probing = true;
        Admission::Probe
    }

    /// The receiver took an attempt (or refused it for good: it is up and answering).
    pub fn succeeded(&self) {
        let mut state = self.state();
        state.consecutive_failures = 0;
        if state.open.take().is_some() {
            drop(state);
            self.closed.send_modify(|n| *n += 1);
            tracing::info!("circuit closed: the endpoint answered");
        }
    }

    /// An attempt failed in a way that may pass; `probe` when it was the circuit's probe.
    /// Returns true when this failure opened the circuit.
    pub fn failed(&self, policy: &RetryPolicy, probe: bool) -> bool {
        let mut state = self.state();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let now = Instant::now();
        let failures = state.consecutive_failures;
        match &mut state.open {
            Some(open) => {
                if probe {
                    open.failed_probes += 1;
                    open.probing = false;
                    open.interval = policy.backoff(open.failed_probes + 1);
                    open.next_probe = now + open.interval;
                }
                false
            }
            None if failures >= policy.open_circuit_after => {
                let interval = policy.backoff(1);
                state.open = Some(Open {
                    failed_probes: 0,
                    next_probe: now + interval,
                    interval,
                    probing: false,
                });
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(8),
            open_circuit_after: 3,
            ..RetryPolicy::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_then_admits_one_probe_per_interval() {
        let circuit = Circuit::default();
        let p = policy();
        assert!(!circuit.failed(&p, false));
        circuit.succeeded();
        assert!(!circuit.failed(&p, false));
        assert!(!circuit.failed(&p, false));
        assert_eq!(
            circuit.admit(),
            Admission::Send,
            "a success reset the count"
        );
        assert!(circuit.failed(&p, false), "the third in a row opens it");
        let opened = Instant::now();
        assert_eq!(circuit.admit(), Admission::Wait(opened + p.backoff(1)));

        // Intervals follow the backoff: 1 s, then 2 s, 4 s, 8 s, 8 s after each failed probe.
        let mut probes = Vec::new();
        for _ in 0..5 {
            let Admission::Wait(at) = circuit.admit() else {
                panic!("only one probe at a time");
            };
            tokio::time::sleep_until(at).await;
            assert_eq!(circuit.admit(), Admission::Probe);
            assert!(matches!(circuit.admit(), Admission::Wait(_)), "one probe");
            probes.push(Instant::now().duration_since(opened).as_secs());
            circuit.failed(&p, true);
        }
        assert_eq!(probes, [1, 3, 7, 15, 23]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_success_closes_it_and_wakes_waiting_lanes() {
        let circuit = Circuit::default();
        let p = policy();
        for _ in 0..3 {
            circuit.failed(&p, false);
        }
        let closures = circuit.closures();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(circuit.admit(), Admission::Probe);
        circuit.succeeded();
        assert!(closures.has_changed().unwrap());
        assert_eq!(circuit.admit(), Admission::Send);
        assert!(!circuit.is_open());
    }
}
