//! The host side of `guest-filters/wit/filter.wit`, and events in the shape the world passes.

use crate::event::Event as GatewayEvent;
use crate::json::JsValue;

use super::FilterContext;

wasmtime::component::bindgen!({
    path: "../guest-filters/wit",
    world: "filter",
    // `event-data`/`event-json` trap on an index outside the batch.
    imports: { default: trappable },
    // Calls run on the async executor: a long call yields at every epoch tick instead of
    // holding a thread (see `sandbox.rs`).
    exports: { default: async },
});

/// A batch as `decide` takes it: every string in one `text`, records of spans into it.
///
/// Only the small fields travel; `data` and the event's JSON are fetched by the guest when it
/// reads them (see the `.wit` file for why). A sandbox keeps one and refills it for every
/// call, so the buffers are allocated once.
pub(crate) struct Packed {
    pub(crate) text: String,
    pub(crate) ctx: Context,
    pub(crate) events: Vec<Event>,
}

impl Packed {
    pub(crate) fn new() -> Self {
        let empty = Span { offset: 0, len: 0 };
        let ctx = Context {
            app_id: empty,
            webhook_id: empty,
            webhook_target: empty,
        };
        Self {
            text: String::new(),
            ctx,
            events: Vec::new(),
        }
    }

    pub(crate) fn fill(&mut self, ctx: &FilterContext, events: &[GatewayEvent]) {
        let text = &mut self.text;
        text.clear();
        self.ctx = Context {
            app_id: push(text, &ctx.app_id),
            webhook_id: push(text, &ctx.webhook_id),
            webhook_target: push(text, &ctx.webhook_target),
        };
        self.events.clear();
        self.events
            .extend(events.iter().map(|event| record(text, event)));
    }
}

fn record(text: &mut String, event: &GatewayEvent) -> Event {
    let mut record = Event {
        name: push(text, event.name()),
        channel: push(text, event.channel()),
        event: None,
        socket_id: None,
        user_id: None,
        subscription_count: None,
    };
    // One pass over the fields rather than a lookup per optional field.
    for (key, value) in event.fields().iter() {
        let Some(key) = key.as_str() else { continue };
        match (key, value.as_str()) {
            ("event", Some(v)) => record.event = Some(push(text, v)),
            ("socket_id", Some(v)) => record.socket_id = Some(push(text, v)),
            ("user_id", Some(v)) => record.user_id = Some(push(text, v)),
            ("subscription_count", None) => record.subscription_count = whole_count(value),
            _ => {}
        }
    }
    record
}

/// Appends `s` to the batch text. A batch's text stays far below 4 GiB (request bodies are
/// capped long before), so offsets fit a `u32`.
fn push(text: &mut String, s: &str) -> Span {
    let offset = text.len();
    text.push_str(s);
    Span {
        offset: offset as u32,
        len: s.len() as u32,
    }
}

/// A JSON number that is a whole count JavaScript holds exactly.
fn whole_count(value: &JsValue) -> Option<u64> {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    let n = value.as_f64()?;
    ((0.0..=MAX_SAFE_INTEGER).contains(&n) && n.fract() == 0.0).then_some(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn event(text: &str) -> GatewayEvent {
        GatewayEvent::from_value(json::parse(text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn packs_strings_into_one_text_and_types_the_fields() {
        let ctx = FilterContext {
            app_id: "app".into(),
            webhook_id: "hook".into(),
            webhook_target: "http://t".into(),
        };
        let events = [
            event(
                r#"{"name":"client_event","channel":"private-é","event":"client-x","socket_id":"1.2","user_id":"u","data":"{}"}"#,
            ),
            event(
                r#"{"name":"subscription_count","channel":"c","subscription_count":3,"user_id":7}"#,
            ),
            event(r#"{"name":"subscription_count","channel":"c","subscription_count":1.5}"#),
        ];
        let mut packed = Packed::new();
        packed.fill(&ctx, &events);
        let text = |span: Span| &packed.text[span.offset as usize..][..span.len as usize];
        assert_eq!(text(packed.ctx.webhook_target), "http://t");
        let [first, second, third] = &packed.events[..] else {
            panic!()
        };
        assert_eq!(text(first.channel), "private-é");
        assert_eq!(first.event.map(text), Some("client-x"));
        assert_eq!(first.socket_id.map(text), Some("1.2"));
        assert_eq!(first.user_id.map(text), Some("u"));
        assert!(!packed.text.contains("{}"), "data is fetched, not packed");
        // A field of another type than the world's is left to the event's JSON.
        assert!(second.user_id.is_none());
        assert_eq!(second.subscription_count, Some(3));
        assert_eq!(third.subscription_count, None);
        // Refilling reuses the buffers.
        packed.fill(&ctx, &events[..1]);
        assert_eq!(packed.events.len(), 1);
    }
}
