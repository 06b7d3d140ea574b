//! Stamps every event with a `filter_stamp` field naming the build of this filter that
//! decided it. Build with `STAMP=v2 cargo build ...` to get a module that stamps `v2`.
//!
//! Useful to see which version of a filter is live after a reload; the reload soak in
//! `bench/` builds two stamps and alternates them under load to prove no event is decided by
//! a version that was no longer (or not yet) live.

use switchyard_filter::{Context, Event, Verdict, filter};

filter!(decide);

/// Chosen at build time; cargo rebuilds when `STAMP` changes.
const STAMP: &str = match option_env!("STAMP") {
    Some(stamp) => stamp,
    None => "unstamped",
};

fn decide(_ctx: &Context, event: &Event) -> Verdict {
    Verdict::Replace(event.edit().with("filter_stamp", STAMP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_every_event_with_its_build() {
        let event = Event::new("member_added", "presence-a").with_user_id("7");
        let Verdict::Replace(stamped) = decide(&Context::default(), &event) else {
            panic!("expected a replacement");
        };
        assert_eq!(
            stamped.get("filter_stamp").and_then(|v| v.as_str()),
            Some(STAMP)
        );
        assert_eq!(stamped.get("user_id").and_then(|v| v.as_str()), Some("7"));
    }
}
