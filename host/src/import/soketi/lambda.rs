//! A soketi webhook's `lambda` options: `async`, `region` and the AWS SDK's `client_options`,
//! carried over as far as the gateway's Lambda sender supports them.

use serde_json::{Map, Value};

use super::super::note::Report;
use super::webhook::truthy;
use crate::config::nearest;

/// soketi's region when neither `lambda.region` nor `client_options.region` says one.
const SOKETI_DEFAULT_REGION: &str = "us-east-1";

/// Static credentials as AWS SDK v2 takes them at the top of its client options.
const V2_CREDENTIALS: [&str; 3] = ["accessKeyId", "secretAccessKey", "sessionToken"];

/// The `lambda` object for the gateway from soketi's (`raw`, possibly absent).
pub(super) fn read_lambda(path: &str, raw: Option<&Value>, report: &mut Report) -> Value {
    let mut out = Map::new();
    match raw.map(|v| (v, v.as_object())) {
        None | Some((Value::Null, _)) => {
            let msg = "absent: soketi 1.6.1 shuts itself down on the first event for such a \
                       webhook (it reads `lambda.async`); the gateway invokes it synchronously \
                       (RequestResponse)";
            report.note(path, msg);
        }
        Some((_, None)) => report.warn(path, "not an object: soketi cannot use it; left out"),
        Some((_, Some(lambda))) => read_options(path, lambda, &mut out, report),
    }
    let has_region = out.contains_key("region")
        || out
            .get("client_options")
            .is_some_and(|o| o.get("region").is_some());
    if !has_region {
        let msg = format!("no region given: set to soketi's default, {SOKETI_DEFAULT_REGION}");
        report.note(path, msg);
        out.insert("region".into(), SOKETI_DEFAULT_REGION.into());
    }
    Value::Object(out)
}

fn read_options(
    path: &str,
    lambda: &Map<String, Value>,
    out: &mut Map<String, Value>,
    report: &mut Report,
) {
    const KEYS: [&str; 3] = ["async", "region", "client_options"];
    for (key, value) in lambda {
        let key_path = format!("{path}.{key}");
        match key.as_str() {
            "async" => {
                if !value.is_boolean() {
                    let msg = "not true or false: carried over as soketi reads it (truthiness)";
                    report.note(&key_path, msg);
                }
                out.insert(key.clone(), Value::Bool(truthy(value)));
            }
            "region" => match value {
                Value::String(s) if !s.is_empty() => {
                    out.insert(key.clone(), value.clone());
                }
                v if !truthy(v) => {}
                _ => report.warn(&key_path, "not a region name; left out"),
            },
            "client_options" => match value.as_object() {
                Some(options) => {
                    let options = read_client_options(&key_path, options, report);
                    if !options.is_empty() {
                        out.insert(key.clone(), Value::Object(options));
                    }
                }
                None => report.warn(&key_path, "not an object; left out"),
            },
            _ => {
                let hint = nearest(key, KEYS)
                    .map(|near| format!(" (did you mean `{near}`?)"))
                    .unwrap_or_default();
                report.warn(
                    &key_path,
                    format!("not a soketi lambda option{hint}; left out"),
                );
            }
        }
    }
}

/// The AWS SDK options the gateway's Lambda client takes: `region`, `endpoint`, `credentials`
/// (and the SDK v2 spelling with the credentials at the top, moved into `credentials`).
fn read_client_options(
    path: &str,
    options: &Map<String, Value>,
    report: &mut Report,
) -> Map<String, Value> {
    let mut out = Map::new();
    let mut credentials = Map::new();
    for (key, value) in options {
        let key_path = format!("{path}.{key}");
        match key.as_str() {
            "region" | "endpoint" => {
                out.insert(key.clone(), value.clone());
            }
            "credentials" => match value.as_object() {
                Some(given) => credentials.extend(given.clone()),
                None => report.warn(
                    &key_path,
                    "not an object of accessKeyId, secretAccessKey, sessionToken; left out",
                ),
            },
            k if V2_CREDENTIALS.contains(&k) => {
                report.note(
                    &key_path,
                    "moved into `credentials`, where the gateway reads it",
                );
                credentials.insert(key.clone(), value.clone());
            }
            _ => {
                let msg = "an AWS SDK option the gateway does not support (it takes region, \
                           endpoint and credentials); left out";
                report.warn(&key_path, msg);
            }
        }
    }
    if !credentials.is_empty() {
        out.insert("credentials".into(), Value::Object(credentials));
    }
    out
}
