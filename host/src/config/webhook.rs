//! Reading one webhook: its target (URL or Lambda function with soketi's `lambda` options),
//! event types, channel filter, headers, signing and filter chain.

use std::path::Path;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::delivery::{MAX_LANES, WebhookDefaults, read_retry};
use super::load::{MAX_MEMORY_LIMIT_MIB, non_empty};
use super::reader::{Fields, Findings, nearest};
use super::{
    ChannelFilter, EventType, EventTypeSet, LambdaTarget, Secret, Signing, StaticCredentials,
    Target, Webhook,
};
use crate::deliver::RESERVED_HEADERS;
use crate::filter::{FilterSpec, OnError};
use crate::signature::StandardWebhooksKey;

/// One `apps[].webhooks[]` entry, as soketi documents it plus `id` and `filters`.
pub(super) fn read_webhook(
    mut f: Fields,
    base_dir: &Path,
    defaults: &WebhookDefaults,
) -> Option<Webhook> {
    let explicit_id = f.opt_string("id");
    let target = read_target(&mut f);
    let event_types = read_event_types(&mut f);
    let channel_filter = read_channel_filter(f.opt_object("filter"));
    let headers = read_headers(&mut f);
    let signing = read_signing(&mut f);
    let filters = read_filter_refs(&mut f, base_dir);
    let lanes = f
        .opt_int("lanes", 1..=MAX_LANES)
        .map_or(defaults.lanes, |n| n as u16);
    let retry = read_retry(f.opt_object("retry"), defaults.retry);
    f.finish();
    let target = target?;
    Some(Webhook {
        id: explicit_id.map_or_else(|| target.describe(), str::to_owned),
        target,
        event_types: event_types?,
        channel_filter: channel_filter?,
        headers: headers?,
        signing: signing?,
        filters: filters?,
        lanes,
        retry: retry?,
    })
}

fn read_target(f: &mut Fields) -> Option<Target> {
    let url = f.opt_string("url");
    let function = f.opt_string("lambda_function");
    let lambda = f.opt_object("lambda");
    match (url, function) {
        (Some(_), Some(_)) => {
            let msg = "set either `url` or `lambda_function`, not both";
            f.findings().problem(f.path(), msg);
            None
        }
        (None, None) => {
            let msg = "a webhook needs a `url` or a `lambda_function`";
            f.findings().problem(f.path(), msg);
            None
        }
        (Some(url), None) => {
            if let Some(lambda) = lambda {
                let msg = "`lambda` options only apply to a `lambda_function` webhook";
                lambda.findings().problem(lambda.path(), msg);
            }
            let path = f.field_path("url");
            http_url(f.findings(), &path, url).map(Target::Http)
        }
        (None, Some(function)) => {
            if function.is_empty() {
                f.findings()
                    .problem(&f.field_path("lambda_function"), "must not be empty");
                return None;
            }
            read_lambda(function, lambda).map(Target::Lambda)
        }
    }
}

fn http_url(findings: &Findings, path: &str, text: &str) -> Option<Url> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
        Ok(url) => {
            let msg = format!(
                "`{text}` must be an http:// or https:// URL (scheme is `{}`)",
                url.scheme()
            );
            findings.problem(path, msg);
            None
        }
        Err(e) => {
            findings.problem(path, format!("`{text}` is not a URL: {e}"));
            None
        }
    }
}

/// soketi's `lambda` object: `async`, `region`, and the AWS SDK's `client_options`
/// (`region`, `endpoint`, `credentials`). Region precedence: client_options, then lambda.
fn read_lambda(function: &str, fields: Option<Fields>) -> Option<LambdaTarget> {
    let mut target = LambdaTarget {
        function: function.to_owned(),
        asynchronous: false,
        region: None,
        endpoint: None,
        credentials: None,
    };
    let Some(mut f) = fields else {
        return Some(target);
    };
    target.asynchronous = f.opt_bool("async").unwrap_or(false);
    let region = f.opt_string("region");
    let mut ok = true;
    if let Some(mut options) = f.opt_object("client_options") {
        target.region = options.opt_string("region").map(str::to_owned);
        if let Some(endpoint) = options.opt_string("endpoint") {
            let path = options.field_path("endpoint");
            target.endpoint = http_url(options.findings(), &path, endpoint);
            ok &= target.endpoint.is_some();
        }
        if let Some(creds) = options.opt_object("credentials") {
            target.credentials = read_credentials(creds);
            ok &= target.credentials.is_some();
        }
        options.finish();
    }
    target.region = target.region.or(region.map(str::to_owned));
    f.finish();
    ok.then_some(target)
}

fn read_credentials(mut f: Fields) -> Option<StaticCredentials> {
    let access_key_id = non_empty(&mut f, "accessKeyId");
    let secret_access_key = non_empty(&mut f, "secretAccessKey");
    let session_token = f.opt_string("sessionToken");
    f.finish();
    Some(StaticCredentials {
        access_key_id: access_key_id?.to_owned(),
        secret_access_key: Secret::new(secret_access_key?),
        session_token: session_token.map(Secret::new),
    })
}

fn read_event_types(f: &mut Fields) -> Option<EventTypeSet> {
    let findings = f.findings();
    if f.raw("event_types").is_none() {
        let msg = "is required (a list of event types)";
        findings.problem(&f.field_path("event_types"), msg);
        return None;
    }
    // Present but not an array: `opt_array` has reported it.
    let items = f.opt_array("event_types")?;
    let mut set = EventTypeSet::default();
    let mut ok = true;
    for (path, value) in &items {
        let Some(name) = value.as_str() else {
            findings.problem(path, "expected an event type name (a string)");
            ok = false;
            continue;
        };
        match EventType::from_name(name) {
            Some(t) => set.insert(t),
            None => {
                let hint = match nearest(name, EventType::ALL.map(EventType::as_str)) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!(
                        "valid: {}",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                };
                findings.problem(path, format!("unknown event type `{name}` ({hint})"));
                ok = false;
            }
        }
    }
    if ok && set.is_empty() {
        findings.problem(
            &f.field_path("event_types"),
            "lists no event type: the webhook would never fire",
        );
        ok = false;
    }
    ok.then_some(set)
}

fn read_channel_filter(fields: Option<Fields>) -> Option<ChannelFilter> {
    let Some(mut f) = fields else {
        return Some(ChannelFilter::default());
    };
    let filter = ChannelFilter {
        starts_with: f.opt_string("channel_name_starts_with").map(str::to_owned),
        ends_with: f.opt_string("channel_name_ends_with").map(str::to_owned),
    };
    f.finish();
    Some(filter)
}

fn read_headers(f: &mut Fields) -> Option<Vec<(String, String)>> {
    let path = f.field_path("headers");
    let findings = f.findings();
    let Some(raw) = f.raw("headers") else {
        return Some(Vec::new());
    };
    let Some(map) = raw.as_object() else {
        findings.problem(&path, "expected a table/object of header names to values");
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (name, value) in map {
        let path = format!("{path}.{name}");
        let valid = value.as_str().filter(|v| {
            HeaderName::try_from(name.as_str()).is_ok() && HeaderValue::from_str(v).is_ok()
        });
        let Some(value) = valid else {
            findings.problem(&path, "not a valid HTTP header name with a string value");
            ok = false;
            continue;
        };
        if RESERVED_HEADERS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            findings.problem(
                &path,
                "is set by the gateway (signing, delivery id, attempt) and cannot be overridden",
            );
            ok = false;
            continue;
        }
        out.push((name.clone(), value.to_owned()));
    }
    ok.then_some(out)
}

/// `signing` (`pusher` unless set) and the `secret` Standard Webhooks signing needs. Findings
/// say why a secret was refused, never what it was. Lambda targets sign the same way: the
/// headers travel in the invocation's `headers`, and the payload is the signed body.
fn read_signing(f: &mut Fields) -> Option<Signing> {
    const SCHEMES: [&str; 2] = ["pusher", "standard-webhooks"];
    let findings = f.findings();
    let secret_path = f.field_path("secret");
    let secret = f.opt_string("secret");
    let scheme = match f.opt_string("signing") {
        Some(scheme) => scheme,
        // Present but not a string: `opt_string` has reported it.
        None if f.raw("signing").is_some() => return None,
        None => "pusher",
    };
    match (scheme, secret) {
        ("pusher", None) => Some(Signing::Pusher),
        ("pusher", Some(_)) => {
            let msg = "only applies with `signing = \"standard-webhooks\"` (Pusher signing uses the app's secret)";
            findings.problem(&secret_path, msg);
            None
        }
        ("standard-webhooks", None) => {
            let msg = "is required with `signing = \"standard-webhooks\"`: `whsec_` and the key in base64";
            findings.problem(&secret_path, msg);
            None
        }
        ("standard-webhooks", Some(secret)) => match StandardWebhooksKey::parse(secret) {
            Ok(key) => Some(Signing::StandardWebhooks(key)),
            Err(e) => {
                findings.problem(&secret_path, e.to_string());
                None
            }
        },
        (other, _) => {
            let hint = match nearest(other, SCHEMES) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("valid: {}", SCHEMES.join(", ")),
            };
            let msg = format!("unknown signing scheme `{other}` ({hint})");
            findings.problem(&f.field_path("signing"), msg);
            None
        }
    }
}

/// A `filters` list (an app's or a webhook's); module paths resolve against `base_dir`.
pub(super) fn read_filter_refs(f: &mut Fields, base_dir: &Path) -> Option<Vec<FilterSpec>> {
    let items = f.opt_array("filters").unwrap_or_default();
    let findings = f.findings();
    let specs: Vec<Option<FilterSpec>> = items
        .iter()
        .map(|(path, value)| read_filter_ref(Fields::of(findings, path.clone(), value)?, base_dir))
        .collect();
    specs.into_iter().collect()
}

fn read_filter_ref(mut f: Fields, base_dir: &Path) -> Option<FilterSpec> {
    let module = f.string("module");
    let name = f.opt_string("name");
    let params = f
        .raw("params")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let memory_limit_bytes = f
        .opt_int("memory_limit_mib", 1..=MAX_MEMORY_LIMIT_MIB)
        .map(|mib| (mib as usize) << 20);
    let on_error = match f.opt_string("on_error") {
        None => Some(OnError::default()),
        Some("drop") => Some(OnError::Drop),
        Some("pass") => Some(OnError::Pass),
        Some("dead_letter") => Some(OnError::DeadLetter),
        Some(other) => {
            let msg = format!("unknown on_error `{other}` (valid: drop, pass, dead_letter)");
            f.findings().problem(&f.field_path("on_error"), msg);
            None
        }
    };
    f.finish();
    let module = base_dir.join(module?);
    let name = name.map_or_else(
        || {
            module.file_stem().map_or_else(
                || module.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        },
        str::to_owned,
    );
    Some(FilterSpec {
        name,
        module,
        params,
        on_error: on_error?,
        memory_limit_bytes,
    })
}
