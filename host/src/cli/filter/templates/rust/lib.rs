//! `{name}`: a Switchyard filter.
//!
//! The gateway calls `decide` for every event bound for a webhook whose `filters` list this
//! module; the verdict keeps the event, drops it, or replaces it (`event.edit()`).
//!
//! Build:  cargo build --target wasm32-wasip2 --release
//! Try:    switchyard filter test --module target/wasm32-wasip2/release/<this crate>.wasm \
//!             --params '{"channel_prefix": "private-"}' < events.jsonl
//! Test:   cargo test

use serde::Deserialize;
use switchyard_filter::{Context, Event, Verdict, filter, log};

filter!(init = init, decide = decide);

/// The filter's `params` from the gateway's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Keep events on channels starting with this; drop the rest.
    #[serde(default = "default_prefix")]
    channel_prefix: String,
}

fn default_prefix() -> String {
    "private-".into()
}

/// Runs once per instance; an error refuses the filter with this message.
fn init(params: Params) -> Result<Params, String> {
    log::info(&format!("keeping channels starting with {:?}", params.channel_prefix));
    Ok(params)
}

/// Runs for every event; `params` is what `init` returned (it may keep state, too).
fn decide(params: &mut Params, _ctx: &Context, event: &Event) -> Verdict {
    Verdict::keep_if(event.channel().starts_with(&params.channel_prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_filter::Runner;

    #[test]
    fn keeps_channels_with_the_prefix() {
        let mut filter = Runner::start(r#"{"channel_prefix":"private-"}"#, init, decide).unwrap();
        let ctx = Context::new("app", "webhook", "http://127.0.0.1:9000/hooks");
        assert_eq!(filter.decide(&ctx, &Event::new("client_event", "private-a")), Verdict::Keep);
        assert_eq!(filter.decide(&ctx, &Event::new("client_event", "public-a")), Verdict::Drop);
    }
}
