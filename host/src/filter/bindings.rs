//! The host side of `guest-filters/wit/filter.wit`, and events in the shape the world passes.

use crate::event::Event as GatewayEvent;
use crate::json::JsValue;

use super::FilterContext;

wasmtime::component::bindgen!({
    path: "../guest-filters/wit",
    world: "filter",
    // `event-data`/`event-json` trap on an index outside the batch.
    imports: { default: trappable },
});

/// The record for one event: the small fields only; `data` and the event's JSON are fetched
/// by the guest when it reads them (see the `.wit` file).
pub(crate) fn event_record(event: &GatewayEvent) -> Event {
    let text = |key| event.get_str(key).map(str::to_owned);
    Event {
        name: event.name().to_owned(),
        channel: event.channel().to_owned(),
        event: text("event"),
        socket_id: text("socket_id"),
        user_id: text("user_id"),
        subscription_count: event.get("subscription_count").and_then(whole_count),
    }
}

pub(crate) fn context_record(ctx: &FilterContext) -> Context {
    Context {
        app_id: ctx.app_id.clone(),
        webhook_id: ctx.webhook_id.clone(),
        webhook_target: ctx.webhook_target.clone(),
    }
}

/// A JSON number that is a whole count JavaScript holds exactly.
fn whole_count(value: &JsValue) -> Option<u64> {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    let n = value.as_f64()?;
    ((0.0..=MAX_SAFE_INTEGER).contains(&n) && n.fract() == 0.0).then_some(n as u64)
}
