//! Reading how events wait and are delivered: `[queue]`, `[delivery]` (with the defaults every
//! webhook starts from), the `retry` tables of each level, and an app's `batching`.

use std::path::Path;
use std::time::Duration;

use super::reader::Fields;
use super::{Batching, DeliverySettings};
use crate::queue::{Backend, FunctionErrors, QueueSettings, RedisSettings, RetryPolicy};

const SECOND_MS: u64 = 1000;
const DAY_MS: u64 = 24 * 3600 * SECOND_MS;
const MIB: u64 = 1024 * 1024;

/// The most lanes a webhook may have.
pub(super) const MAX_LANES: u64 = 1024;

/// What `[delivery]` sets for every webhook that does not say otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DeliveryDefaults {
    pub lanes: Option<u16>,
    pub retry: RetryPolicy,
}

/// What a webhook of one app inherits when it does not say otherwise.
#[derive(Debug, Clone, Copy)]
pub(super) struct WebhookDefaults {
    pub lanes: u16,
    pub retry: RetryPolicy,
}

/// The lanes of a webhook that sets none: `[delivery] lanes` if set; else 16, or 64 for an
/// app that delivers one event per request. A lane has one delivery in flight, so a webhook
/// makes at most lanes ÷ round trip deliveries a second: 16 lanes keep up with this machine's
/// top rate when deliveries carry batches; one-event deliveries need about four times as many.
/// More lanes than needed cost batching: events spread over more lanes go out in smaller
/// deliveries (docs/benchmarks.md has the figures).
pub(super) fn default_lanes(delivery: Option<u16>, batching: Option<&Batching>) -> u16 {
    match (delivery, batching) {
        (Some(lanes), _) => lanes,
        (None, Some(batching)) if batching.max_events == 1 => 64,
        (None, _) => 16,
    }
}

/// `[queue]`: the backend; the embedded store's data directory (relative to the config file)
/// and fsync, or Redis's URL and key prefix; the size bound of either.
pub(super) fn read_queue(fields: Option<Fields>, base_dir: &Path) -> Option<QueueSettings> {
    let mut settings = QueueSettings::in_dir(base_dir.join("data"));
    let Some(mut f) = fields else {
        return Some(settings);
    };
    if let Some(n) = f.opt_int("max_bytes", 1024..=(1 << 50)) {
        settings.max_bytes = n;
    }
    let mut ok = true;
    let backend = f.opt_string("backend").unwrap_or("embedded");
    let (own, others): (&[&'static str], &[&'static str]) = match backend {
        "embedded" => {
            if let Some(dir) = f.opt_string("dir") {
                settings.dir = base_dir.join(dir);
            }
            if let Some(fsync) = f.opt_bool("fsync") {
                settings.fsync = fsync;
            }
            (&["dir", "fsync"], &["url", "prefix"])
        }
        "redis" => {
            match read_redis(&mut f) {
                Some(redis) => settings.backend = Backend::Redis(redis),
                None => ok = false,
            }
            (&["url", "prefix"], &["dir", "fsync"])
        }
        other => {
            f.findings().problem(
                &f.field_path("backend"),
                format!("is {other:?}; it must be \"embedded\" (the default) or \"redis\""),
            );
            return None;
        }
    };
    for key in others {
        if f.raw(key).is_some() {
            f.findings().problem(
                &f.field_path(key),
                format!(
                    "applies to backend = {:?} only (this one is {backend:?}, which has {})",
                    if backend == "redis" {
                        "embedded"
                    } else {
                        "redis"
                    },
                    own.join(" and ")
                ),
            );
            ok = false;
        }
    }
    f.finish();
    ok.then_some(settings)
}

/// `url` (required; `redis://` or `rediss://` for TLS, with a password if Redis asks for one)
/// and `prefix`.
fn read_redis(f: &mut Fields) -> Option<RedisSettings> {
    let url = f.string("url")?;
    if let Err(e) = redis::Client::open(url) {
        f.findings().problem(
            &f.field_path("url"),
            format!("is not a Redis URL Switchyard can use: {e}"),
        );
        return None;
    }
    let prefix = f.opt_string("prefix").unwrap_or("switchyard:");
    Some(RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// `[delivery]`: the request timeout, and the lanes and retry policy webhooks default to.
pub(super) fn read_delivery(
    fields: Option<Fields>,
) -> Option<(DeliverySettings, DeliveryDefaults)> {
    let mut settings = DeliverySettings {
        timeout: Duration::from_secs(10),
    };
    let mut defaults = DeliveryDefaults::default();
    let Some(mut f) = fields else {
        return Some((settings, defaults));
    };
    if let Some(ms) = f.opt_int("timeout_ms", 1..=900 * SECOND_MS) {
        settings.timeout = Duration::from_millis(ms);
    }
    // Before lanes, one webhook's deliveries in flight were bounded by this; a lane now has
    // one in flight, so the old limit reads as the number of lanes.
    if let Some(n) = f.opt_int("max_in_flight_per_webhook", 1..=MAX_LANES) {
        f.findings().warning(
            &f.field_path("max_in_flight_per_webhook"),
            "replaced by `lanes` (a lane has one delivery in flight): read as `lanes`",
        );
        defaults.lanes = Some(n as u16);
    }
    if let Some(n) = f.opt_int("lanes", 1..=MAX_LANES) {
        defaults.lanes = Some(n as u16);
    }
    let retry = read_retry(f.opt_object("retry"), defaults.retry);
    f.finish();
    defaults.retry = retry?;
    Some((settings, defaults))
}

/// A `retry` table: each field it sets replaces the one of `base` (the level above).
pub(super) fn read_retry(fields: Option<Fields>, base: RetryPolicy) -> Option<RetryPolicy> {
    let Some(mut f) = fields else {
        return Some(base);
    };
    let mut policy = base;
    let ms = |n: u64| Duration::from_millis(n);
    let initial = f.opt_int("initial_interval_ms", 1..=DAY_MS);
    let max = f.opt_int("max_interval_ms", 1..=7 * DAY_MS);
    if let Some(n) = initial {
        policy.initial_interval = ms(n);
    }
    if let Some(n) = max {
        policy.max_interval = ms(n);
    }
    if let Some(n) = f.opt_int("max_age_ms", 1..=30 * DAY_MS) {
        policy.max_age = ms(n);
    }
    if let Some(n) = f.opt_int("open_circuit_after", 1..=1_000_000) {
        policy.open_circuit_after = n as u32;
    }
    let mut ok = true;
    match f.opt_string("function_errors") {
        None => {}
        Some("retry") => policy.function_errors = FunctionErrors::Retry,
        Some("dead_letter") => policy.function_errors = FunctionErrors::DeadLetter,
        Some(other) => {
            let msg = format!("unknown function_errors `{other}` (valid: retry, dead_letter)");
            f.findings().problem(&f.field_path("function_errors"), msg);
            ok = false;
        }
    }
    if (initial.is_some() || max.is_some()) && policy.max_interval < policy.initial_interval {
        let msg = format!(
            "max_interval_ms ({} ms) is shorter than initial_interval_ms ({} ms)",
            policy.max_interval.as_millis(),
            policy.initial_interval.as_millis()
        );
        f.findings().problem(f.path(), msg);
        ok = false;
    }
    f.finish();
    ok.then_some(policy)
}

/// An app's `batching`: with the table, `window_ms` defaults to 50 (collect for a while, as
/// before lanes); without it, what is ready is sent at once.
pub(super) fn read_batching(fields: Option<Fields>) -> Option<Batching> {
    let mut batching = Batching::default();
    let Some(mut f) = fields else {
        return Some(batching);
    };
    batching.window =
        Duration::from_millis(f.opt_int("window_ms", 0..=60 * SECOND_MS).unwrap_or(50));
    if let Some(n) = f.opt_int("max_events", 1..=10_000) {
        batching.max_events = n as usize;
    }
    if let Some(n) = f.opt_int("max_bytes", 1024..=64 * MIB) {
        batching.max_bytes = n as usize;
    }
    f.finish();
    Some(batching)
}

/// An app's `dedupe_window_ms`.
pub(super) fn read_dedupe_window(f: &mut Fields) -> Option<Duration> {
    f.opt_int("dedupe_window_ms", 1..=DAY_MS)
        .map(Duration::from_millis)
}
