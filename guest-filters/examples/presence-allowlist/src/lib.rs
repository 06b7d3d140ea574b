//! Keeps presence events only for listed users.
//!
//! Params: `{"users": ["1", "7"], "events": ["member_added", "member_removed"]}`. Events
//! named in `events` (by default `member_added` and `member_removed`) reach the webhook only
//! when their `user_id` is one of `users`; all other events pass untouched.

use std::collections::HashSet;

use serde::Deserialize;
use switchyard_filter::{Context, Event, Verdict, filter};

filter!(init = init, decide = decide);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    users: HashSet<String>,
    #[serde(default = "presence_events")]
    events: HashSet<String>,
}

fn presence_events() -> HashSet<String> {
    ["member_added", "member_removed"].map(String::from).into()
}

fn init(params: Params) -> Result<Params, String> {
    if params.events.is_empty() {
        return Err("`events` is empty: the filter would do nothing".into());
    }
    Ok(params)
}

fn decide(params: &mut Params, _ctx: &Context, event: &Event) -> Verdict {
    if !params.events.contains(event.name()) {
        return Verdict::Keep;
    }
    Verdict::keep_if(
        event
            .user_id()
            .is_some_and(|user| params.users.contains(user)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_filter::Runner;

    fn filter(params: &str) -> Runner {
        Runner::start(params, init, decide).unwrap()
    }

    #[test]
    fn keeps_member_events_of_listed_users_only() {
        let mut filter = filter(r#"{"users":["1","7"]}"#);
        let ctx = Context::default();
        let added = |user: &str| Event::new("member_added", "presence-room").with_user_id(user);
        assert_eq!(filter.decide(&ctx, &added("7")), Verdict::Keep);
        assert_eq!(filter.decide(&ctx, &added("8")), Verdict::Drop);
        let removed = Event::new("member_removed", "presence-room").with_user_id("1");
        assert_eq!(filter.decide(&ctx, &removed), Verdict::Keep);
        // No user id (or not a string) is not a listed user.
        let anonymous = Event::new("member_added", "presence-room").with("user_id", 7);
        assert_eq!(filter.decide(&ctx, &anonymous), Verdict::Drop);
    }

    #[test]
    fn other_events_pass() {
        let mut filter = filter(r#"{"users":[]}"#);
        let occupied = Event::new("channel_occupied", "presence-room");
        assert_eq!(filter.decide(&Context::default(), &occupied), Verdict::Keep);
    }

    #[test]
    fn events_to_check_are_configurable() {
        let mut filter = filter(r#"{"users":["1"],"events":["client_event"]}"#);
        let ctx = Context::default();
        let typing = Event::new("client_event", "presence-room").with_user_id("2");
        assert_eq!(filter.decide(&ctx, &typing), Verdict::Drop);
        let added = Event::new("member_added", "presence-room").with_user_id("2");
        assert_eq!(filter.decide(&ctx, &added), Verdict::Keep);
    }

    #[test]
    fn refuses_bad_params() {
        let missing = Runner::start("{}", init, decide).err().unwrap();
        assert!(missing.contains("missing field `users`"), "{missing}");
        let empty = Runner::start(r#"{"users":[],"events":[]}"#, init, decide)
            .err()
            .unwrap();
        assert!(empty.contains("`events` is empty"), "{empty}");
    }
}
