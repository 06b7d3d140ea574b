//! An AWS Lambda function (Rust, `lambda_runtime`) for Switchyard or soketi webhooks: verifies
//! the signature with the app secret from `SOKETI_SECRET`, then handles each event. A payload
//! with a bad signature is refused with an error, so the sender reports a failed delivery.
//!
//! For tests only: when `SWITCHYARD_LAMBDA_RECORD` names a file, one JSON line per invocation
//! is appended to it (what arrived and whether the check passed).

use std::collections::HashMap;
use std::io::Write;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchyard_lambda_example::{Invocation, Refused, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let secret = std::env::var("SOKETI_SECRET").unwrap_or_default();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Invocation>| {
        let secret = secret.clone();
        async move { invoke(event, &secret) }
    }))
    .await
}

fn invoke(event: LambdaEvent<Invocation>, secret: &str) -> Result<Value, Diagnostic> {
    let outcome = handle(&event.payload, secret);
    record(&event, &outcome);
    let handled = outcome.map_err(|refused| Diagnostic {
        error_type: refused.kind().into(),
        error_message: refused.to_string(),
    })?;
    for line in &handled {
        println!("{line}");
    }
    Ok(json!({ "handled": handled.len() }))
}

/// One line of the test record; `payload` is written raw, exactly as it arrived.
#[derive(Serialize)]
struct Record<'a> {
    function: &'a str,
    payload: &'a RawValue,
    headers: &'a HashMap<String, String>,
    signature_ok: bool,
    handled: &'a [String],
}

fn record(event: &LambdaEvent<Invocation>, outcome: &Result<Vec<String>, Refused>) {
    let path = match std::env::var("SWITCHYARD_LAMBDA_RECORD") {
        Ok(path) if !path.is_empty() => path,
        _ => return,
    };
    let line = Record {
        function: &event.context.env_config.function_name,
        payload: &event.payload.payload,
        headers: &event.payload.headers,
        signature_ok: !matches!(outcome, Err(Refused::InvalidSignature)),
        handled: outcome.as_deref().unwrap_or_default(),
    };
    let line = serde_json::to_string(&line).expect("a record serializes");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    if let Err(e) = file.and_then(|mut f| writeln!(f, "{line}")) {
        eprintln!("cannot append to {path}: {e}");
    }
}
