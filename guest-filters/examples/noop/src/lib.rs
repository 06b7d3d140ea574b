//! Keeps every event: measures what the filter machinery itself costs.

use switchyard_filter::{Context, Event, Verdict, filter};

filter!(decide);

fn decide(_ctx: &Context, _event: &Event) -> Verdict {
    Verdict::Keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything() {
        let verdict = decide(
            &Context::default(),
            &Event::new("client_event", "private-a"),
        );
        assert_eq!(verdict, Verdict::Keep);
    }
}
