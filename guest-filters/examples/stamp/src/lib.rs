//! Stamps every event with a `filter_stamp` field naming the build of this filter that
//! decided it. Build with `STAMP=v2 cargo build ...` to get a module that stamps `v2`.
//!
//! Useful to see which version of a filter is live after a reload; the reload soak in
//! `bench/` builds two stamps and alternates them under load to prove no event is decided by
//! a version that was no longer (or not yet) live.
//!
//! Params (optional): `{"init_spin_ms": 500}` makes `init` busy for that long, so a test can
//! change files while the gateway is in the middle of loading this filter.

use std::time::{Duration, Instant};

use serde::Deserialize;
use switchyard_filter::{Context, Event, Verdict, filter};

filter!(init = init, decide = decide);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    init_spin_ms: u64,
}

fn init(params: Option<Params>) -> Result<(), String> {
    let spin = Duration::from_millis(params.unwrap_or_default().init_spin_ms);
    let started = Instant::now();
    while started.elapsed() < spin {
        std::hint::spin_loop();
    }
    Ok(())
}

/// Chosen at build time; cargo rebuilds when `STAMP` changes.
const STAMP: &str = match option_env!("STAMP") {
    Some(stamp) => stamp,
    None => "unstamped",
};

fn decide(_state: &mut (), _ctx: &Context, event: &Event) -> Verdict {
    Verdict::Replace(event.edit().with("filter_stamp", STAMP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_every_event_with_its_build() {
        let event = Event::new("member_added", "presence-a").with_user_id("7");
        let Verdict::Replace(stamped) = decide(&mut (), &Context::default(), &event) else {
            panic!("expected a replacement");
        };
        assert_eq!(
            stamped.get("filter_stamp").and_then(|v| v.as_str()),
            Some(STAMP)
        );
        assert_eq!(stamped.get("user_id").and_then(|v| v.as_str()), Some("7"));
    }

    #[test]
    fn init_takes_at_least_the_spin_it_is_given() {
        let started = Instant::now();
        init(Some(Params { init_spin_ms: 20 })).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(20));
        init(None).unwrap();
    }
}
