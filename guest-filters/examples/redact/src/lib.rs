//! Redacts named fields of client events' `data`.
//!
//! Params: `{"fields": ["card", "password"]}`. In every `client_event` whose `data` is a JSON
//! object, each field with one of these names, at any depth, is replaced by `"[redacted]"`.
//! Other events, and client events without such fields, pass unchanged.

use serde::Deserialize;
use switchyard_filter::serde_json::Value;
use switchyard_filter::{Context, Event, Verdict, filter};

filter!(init = init, decide = decide);

const REDACTED: &str = "[redacted]";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    fields: Vec<String>,
}

fn init(params: Params) -> Result<Params, String> {
    if params.fields.is_empty() {
        return Err("`fields` is empty: nothing to redact".into());
    }
    Ok(params)
}

fn decide(params: &mut Params, _ctx: &Context, event: &Event) -> Verdict {
    if event.name() != "client_event" {
        return Verdict::Keep;
    }
    let Some(mut data) = event.data_json() else {
        return Verdict::Keep;
    };
    if !redact(&mut data, &params.fields) {
        return Verdict::Keep;
    }
    Verdict::Replace(event.edit().with_data_json(&data))
}

/// Redacts in place; true if anything was redacted.
fn redact(value: &mut Value, fields: &[String]) -> bool {
    match value {
        Value::Object(object) => {
            let mut changed = false;
            for (key, value) in object.iter_mut() {
                if fields.contains(key) {
                    changed |= *value != REDACTED;
                    *value = REDACTED.into();
                } else {
                    changed |= redact(value, fields);
                }
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| redact(item, fields) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_filter::Runner;
    use switchyard_filter::serde_json::json;

    fn decide_with(fields: &str, event: &Event) -> Verdict {
        let params = format!(r#"{{"fields":{fields}}}"#);
        Runner::start(&params, init, decide)
            .unwrap()
            .decide(&Context::default(), event)
    }

    #[test]
    fn redacts_named_fields_at_any_depth() {
        let data = json!({"card": "4111", "user": {"password": "x", "name": "ann"}, "items": [{"card": "5"}]});
        let event = Event::new("client_event", "private-shop")
            .with_event("client-pay")
            .with_data_json(&data);
        let Verdict::Replace(edited) = decide_with(r#"["card","password"]"#, &event) else {
            panic!("expected a replacement");
        };
        assert_eq!(
            edited.data_json(),
            Some(
                json!({"card": REDACTED, "user": {"password": REDACTED, "name": "ann"}, "items": [{"card": REDACTED}]})
            )
        );
        // Everything else about the event stays.
        assert_eq!(edited.get("event"), Some(&json!("client-pay")));
        assert_eq!(edited.get("channel"), Some(&json!("private-shop")));
    }

    #[test]
    fn leaves_other_events_and_clean_data_alone() {
        let secret = Event::new("member_added", "presence-a").with_data(r#"{"card":"4111"}"#);
        assert_eq!(decide_with(r#"["card"]"#, &secret), Verdict::Keep);
        let clean = Event::new("client_event", "private-a").with_data(r#"{"text":"hi"}"#);
        assert_eq!(decide_with(r#"["card"]"#, &clean), Verdict::Keep);
        let not_json = Event::new("client_event", "private-a").with_data("card");
        assert_eq!(decide_with(r#"["card"]"#, &not_json), Verdict::Keep);
    }

    #[test]
    fn refuses_an_empty_field_list() {
        let error = Runner::start(r#"{"fields":[]}"#, init, decide)
            .err()
            .unwrap();
        assert!(error.contains("nothing to redact"), "{error}");
    }
}
