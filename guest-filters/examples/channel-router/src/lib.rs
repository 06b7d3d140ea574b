//! Routes channels to webhooks: one module, shared by several webhooks, gives each the
//! channels its routes name (see [`routes::Routes`] for the params).

pub mod routes;

use switchyard_filter::{Context, Event, Verdict, filter};

use routes::Routes;

filter!(init = Routes::check, decide = decide);

fn decide(routes: &mut Routes, ctx: &Context, event: &Event) -> Verdict {
    Verdict::keep_if(routes.allows(ctx.webhook_id(), ctx.webhook_target(), event.channel()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_filter::Runner;

    #[test]
    fn decides_per_webhook_from_params() {
        let params =
            r#"{"routes":[{"webhook":"chat","channels":["private-chat-*"]}],"otherwise":"drop"}"#;
        let mut filter = Runner::start(params, Routes::check, decide).unwrap();
        let chat = Context::new("app", "chat", "https://chat.example.com/hook");
        let other = Context::new("app", "other", "https://other.example.com/hook");
        let event = Event::new("client_event", "private-chat-42");
        assert_eq!(filter.decide(&chat, &event), Verdict::Keep);
        assert_eq!(
            filter.decide(&chat, &Event::new("client_event", "private-billing")),
            Verdict::Drop
        );
        assert_eq!(filter.decide(&other, &event), Verdict::Drop);
    }

    #[test]
    fn refuses_params_it_does_not_understand() {
        let error = Runner::start(r#"{"routes":"all"}"#, Routes::check, decide)
            .err()
            .unwrap();
        assert!(error.starts_with("invalid params:"), "{error}");
    }
}
