//! Drops repeats: an event with the same (name, channel, user_id) as one kept less than
//! `window_ms` ago is dropped.
//!
//! Params: `{"window_ms": 1000}`. The memory of recent events lives in the instance: the
//! gateway may run a few instances of a filter side by side under load, each with its own
//! memory, and a fresh instance (after a restart, a reload with other params, or a trap)
//! starts with none. So this is a best-effort noise filter, not an exactly-once guarantee.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use switchyard_filter::{Context, Event, Verdict, filter};

filter!(init = Dedupe::new, decide = Dedupe::decide);

/// Entries kept before expired ones are swept out.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    window_ms: u64,
}

type Key = (String, String, Option<String>);

struct Dedupe {
    window: Duration,
    /// Reference point for times; `Instant` is the WASI monotonic clock in the component.
    epoch: Instant,
    /// When each key was last kept, as time since `epoch`.
    kept: HashMap<Key, Duration>,
}

impl Dedupe {
    fn new(params: Params) -> Result<Self, String> {
        if params.window_ms == 0 {
            return Err("`window_ms` must be more than 0".into());
        }
        Ok(Self {
            window: Duration::from_millis(params.window_ms),
            epoch: Instant::now(),
            kept: HashMap::new(),
        })
    }

    fn decide(&mut self, _ctx: &Context, event: &Event) -> Verdict {
        let now = self.epoch.elapsed();
        self.decide_at(now, event)
    }

    /// The decision at time `now` (since `epoch`): the clock is a parameter for tests.
    fn decide_at(&mut self, now: Duration, event: &Event) -> Verdict {
        let key = (
            event.name().to_owned(),
            event.channel().to_owned(),
            event.user_id().map(str::to_owned),
        );
        if self
            .kept
            .get(&key)
            .is_some_and(|&at| now.saturating_sub(at) < self.window)
        {
            return Verdict::Drop;
        }
        if self.kept.len() >= SWEEP_AT {
            let window = self.window;
            self.kept
                .retain(|_, &mut at| now.saturating_sub(at) < window);
        }
        self.kept.insert(key, now);
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dedupe(window_ms: u64) -> Dedupe {
        Dedupe::new(Params { window_ms }).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn drops_repeats_within_the_window() {
        let mut filter = dedupe(100);
        let joined = Event::new("member_added", "presence-a").with_user_id("1");
        assert_eq!(filter.decide_at(ms(0), &joined), Verdict::Keep);
        assert_eq!(filter.decide_at(ms(50), &joined), Verdict::Drop);
        assert_eq!(filter.decide_at(ms(99), &joined), Verdict::Drop);
        // The window counts from the last kept event.
        assert_eq!(filter.decide_at(ms(100), &joined), Verdict::Keep);
        assert_eq!(filter.decide_at(ms(150), &joined), Verdict::Drop);
    }

    #[test]
    fn the_key_is_name_channel_and_user() {
        let mut filter = dedupe(100);
        let base = || Event::new("member_added", "presence-a");
        assert_eq!(
            filter.decide_at(ms(0), &base().with_user_id("1")),
            Verdict::Keep
        );
        assert_eq!(
            filter.decide_at(ms(1), &base().with_user_id("2")),
            Verdict::Keep
        );
        assert_eq!(filter.decide_at(ms(2), &base()), Verdict::Keep);
        assert_eq!(
            filter.decide_at(ms(3), &Event::new("member_removed", "presence-a")),
            Verdict::Keep
        );
        assert_eq!(
            filter.decide_at(ms(4), &Event::new("member_added", "presence-b")),
            Verdict::Keep
        );
        assert_eq!(filter.decide_at(ms(5), &base()), Verdict::Drop);
    }

    #[test]
    fn sweeps_expired_entries() {
        let mut filter = dedupe(10);
        for i in 0..SWEEP_AT {
            filter.decide_at(ms(0), &Event::new("e", format!("c{i}")));
        }
        filter.decide_at(ms(20), &Event::new("e", "new"));
        assert_eq!(filter.kept.len(), 1);
    }

    #[test]
    fn uses_the_clock_and_checks_params() {
        let mut filter = dedupe(60_000);
        let event = Event::new("channel_occupied", "a");
        assert_eq!(filter.decide(&Context::default(), &event), Verdict::Keep);
        assert_eq!(filter.decide(&Context::default(), &event), Verdict::Drop);
        assert!(Dedupe::new(Params { window_ms: 0 }).is_err());
    }
}
