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
    use routes::glob;
    use switchyard_filter::Runner;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob("private-*", "private-a"));
        assert!(glob("private-*", "private-"));
        assert!(!glob("private-*", "presence-a"));
        assert!(glob("*-room-?", "presence-room-7"));
        assert!(!glob("*-room-?", "presence-room-17"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
        assert!(glob("*", ""));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }

    fn routes(json: &str) -> Routes {
        serde_json::from_str::<Routes>(json)
            .unwrap()
            .check()
            .unwrap()
    }

    #[test]
    fn routes_by_webhook_id_or_target() {
        let mut table = routes(
            r#"{"routes":[
                {"webhook":"billing","channels":["private-billing-*"]},
                {"webhook":"https://audit.example.com/*","channels":["*"]}
            ]}"#,
        );
        assert!(table.allows("billing", "https://b", "private-billing-1"));
        assert!(!table.allows("billing", "https://b", "private-chat"));
        assert!(table.allows("x", "https://audit.example.com/hook", "anything"));
        // No route names this webhook: `otherwise` (keep by default).
        assert!(table.allows("other", "https://o", "private-chat"));
    }

    #[test]
    fn otherwise_drop_closes_unrouted_webhooks() {
        let mut table =
            routes(r#"{"routes":[{"webhook":"a","channels":["*"]}],"otherwise":"drop"}"#);
        assert!(table.allows("a", "t", "c"));
        assert!(!table.allows("b", "t", "c"));
    }

    #[test]
    fn refuses_bad_tables() {
        let empty = serde_json::from_str::<Routes>(r#"{"routes":[{"webhook":"a","channels":[]}]}"#);
        assert_eq!(
            empty.unwrap().check().unwrap_err(),
            "routes[0] has no channels"
        );
        assert!(serde_json::from_str::<Routes>(r#"{"routes":[],"otherwise":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<Routes>(r#"{"route":[]}"#).is_err());
    }

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
