//! A deliberately hostile filter, for tests that the gateway contains it.
//!
//! Params: `{"misbehave": "loop" | "memory" | "panic" | "bad_replacement" | "refuse_init"}`.
//! `refuse_init` fails `init`; the others strike when a batch holds an event named, or on a
//! channel named, `misbehave` (so one instance can be seen failing, and the next one
//! serving; the channel form passes the gateway's event type filter): spin
//! forever, allocate without end, panic, or answer with a replacement that is no event.
//! Other events are kept.

use std::hint::black_box;

use serde::Deserialize;
use switchyard_filter::{Context, Event, Verdict, filter, log};

filter!(init = init, decide = decide);

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Misbehaviour {
    Loop,
    Memory,
    Panic,
    BadReplacement,
    RefuseInit,
}

#[derive(Debug, Deserialize)]
struct Params {
    misbehave: Misbehaviour,
}

fn init(params: Params) -> Result<Misbehaviour, String> {
    match params.misbehave {
        Misbehaviour::RefuseInit => Err("hostile filter refuses to start".into()),
        other => Ok(other),
    }
}

fn decide(misbehaviour: &mut Misbehaviour, _ctx: &Context, event: &Event) -> Verdict {
    if event.name() != "misbehave" && event.channel() != "misbehave" {
        return Verdict::Keep;
    }
    log::warn(&format!("misbehaving: {misbehaviour:?}"));
    match misbehaviour {
        Misbehaviour::Loop => spin(),
        Misbehaviour::Memory => hoard(),
        Misbehaviour::Panic => panic!("hostile filter panics on purpose"),
        Misbehaviour::BadReplacement => Verdict::Replace(event.edit().without("channel")),
        Misbehaviour::RefuseInit => unreachable!("init refused to start"),
    }
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn hoard() -> ! {
    let mut hoard = Vec::new();
    loop {
        // Touch every page so the memory is really used.
        hoard.push(black_box(vec![1u8; 1 << 20]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_filter::Runner;

    #[test]
    fn keeps_ordinary_events_and_can_refuse_to_start() {
        let mut filter = Runner::start(r#"{"misbehave":"loop"}"#, init, decide).unwrap();
        assert_eq!(
            filter.decide(&Context::default(), &Event::new("e", "c")),
            Verdict::Keep
        );
        let refused = Runner::start(r#"{"misbehave":"refuse_init"}"#, init, decide).err();
        assert_eq!(refused.as_deref(), Some("hostile filter refuses to start"));
    }

    #[test]
    #[should_panic(expected = "hostile filter panics on purpose")]
    fn panics_when_asked() {
        let mut filter = Runner::start(r#"{"misbehave":"panic"}"#, init, decide).unwrap();
        filter.decide(&Context::default(), &Event::new("misbehave", "c"));
    }

    #[test]
    fn bad_replacement_has_no_channel() {
        let mut filter = Runner::start(r#"{"misbehave":"bad_replacement"}"#, init, decide).unwrap();
        let Verdict::Replace(edited) =
            filter.decide(&Context::default(), &Event::new("misbehave", "c"))
        else {
            panic!("expected a replacement");
        };
        assert_eq!(edited.get("channel"), None);
    }
}
