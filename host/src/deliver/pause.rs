//! Holding a webhook's deliveries: an operator pauses a webhook (its receiver is down for
//! maintenance, or misbehaves), its lanes hold their deliveries before the next attempt while
//! ingest goes on accepting, and resuming releases them in order. The switch lives with the
//! lanes; the store keeps whether a webhook is paused ([`crate::queue::Paused`]), so it lasts
//! across restarts and reloads and, on Redis, holds on every gateway.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::queue::Paused;

/// One webhook's pause switch, shared by its lanes.
#[derive(Debug)]
pub struct Pause(watch::Sender<Option<Paused>>);

impl Default for Pause {
    fn default() -> Self {
        Self(watch::Sender::new(None))
    }
}

impl Pause {
    /// Pauses (`Some`) or resumes (`None`); false when it already was so.
    pub fn set(&self, paused: Option<Paused>) -> bool {
        self.0.send_if_modified(|now| {
            if now.is_some() == paused.is_some() {
                return false;
            }
            *now = paused;
            true
        })
    }

    pub fn current(&self) -> Option<Paused> {
        self.0.borrow().clone()
    }

    pub fn is_paused(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// Waits until resumed; true if `stop` came first.
    pub async fn wait_for_resume(&self, stop: &CancellationToken) -> bool {
        let mut changes = self.0.subscribe();
        tokio::select! {
            resumed = changes.wait_for(Option::is_none) => resumed.is_err(),
            () = stop.cancelled() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_paused_switch_holds_until_resumed() {
        let pause = std::sync::Arc::new(Pause::default());
        let by = Paused {
            at_ms: 1,
            by: "api".into(),
        };
        assert!(pause.set(Some(by.clone())));
        assert!(!pause.set(Some(by)), "pausing twice changes nothing");
        let stop = CancellationToken::new();
        let waiting = tokio::spawn({
            let (pause, stop) = (pause.clone(), stop.clone());
            async move { pause.wait_for_resume(&stop).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert!(pause.set(None));
        assert!(!waiting.await.unwrap(), "resumed, not stopped");
        assert!(!pause.is_paused());
    }
}
