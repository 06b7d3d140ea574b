//! The results: ratios between rows, the Markdown tables, the targets, and the JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::memory::IdleMemory;
use crate::metrics::Latency;
use crate::runner::{Row, Timing};
use crate::scenarios::Scenario;

#[derive(Debug, Serialize)]
pub struct Meta {
    pub command: String,
    pub quick: bool,
    pub timing: Timing,
    pub started_at_ms: u64,
    pub build_secs: BTreeMap<String, f64>,
    pub measure_secs: f64,
    pub total_secs: f64,
    pub gateway_max_rps: Option<f64>,
    /// Cores busy with other processes just before the run.
    pub busy_cores_before: Option<f64>,
    pub rounds: usize,
    pub git: Option<String>,
    pub cpus: usize,
    pub idle_memory: Option<IdleMemory>,
}

/// Divides the row's delivered events/s by its references', measured earlier in the same run.
pub fn add_ratios(row: &mut Row, scenario: &Scenario, earlier: &[Row]) {
    if row.error.is_some() {
        return;
    }
    let ratio = |id: Option<&str>| {
        let reference = earlier
            .iter()
            .find(|r| Some(r.id.as_str()) == id && r.error.is_none())?;
        (reference.delivered_eps > 0.0).then(|| {
            (
                reference.id.clone(),
                row.delivered_eps / reference.delivered_eps,
            )
        })
    };
    row.vs_forwarder = ratio(scenario.vs_forwarder);
    row.vs_durable = ratio(scenario.vs_durable);
    row.vs_embedded = ratio(scenario.vs_embedded);
    row.vs_one_node = ratio(scenario.vs_one_node);
}

/// One row per steady scenario from its rounds: medians of the rates, latencies and CPU, the
/// highest peak RSS and backlog, sums of the failures, and each ratio's median and range over
/// the rounds (each round's ratio is to the reference of the same round).
pub fn combine_rounds(scenarios: &[&Scenario], per_round: &[Vec<Row>]) -> Vec<Row> {
    scenarios
        .iter()
        .map(|sc| {
            let all: Vec<&Row> = per_round
                .iter()
                .filter_map(|rows| rows.iter().find(|r| r.id == sc.id))
                .collect();
            let ok: Vec<&Row> = all.iter().copied().filter(|r| r.error.is_none()).collect();
            match ok.first() {
                Some(_) => combine(&ok, &all),
                None => all.first().map_or_else(Row::default, |&r| r.clone()),
            }
        })
        .collect()
}

fn combine(ok: &[&Row], all: &[&Row]) -> Row {
    let mut row = ok[0].clone();
    let med = |f: &dyn Fn(&Row) -> f64| median(ok.iter().map(|&r| f(r)).collect());
    let med_opt = |f: &dyn Fn(&Row) -> Option<f64>| {
        let v: Vec<f64> = ok.iter().filter_map(|&r| f(r)).collect();
        (!v.is_empty()).then(|| median(v))
    };
    let latency = |pick: fn(&Row) -> Latency| {
        let med_u = |f: fn(Latency) -> u64| med(&|r| f(pick(r)) as f64).round() as u64;
        Latency {
            count: ok.iter().map(|&r| pick(r).count).sum(),
            p50_us: med_u(|l| l.p50_us),
            p99_us: med_u(|l| l.p99_us),
            p999_us: med_u(|l| l.p999_us),
            max_us: ok.iter().map(|&r| pick(r).max_us).max().unwrap_or(0),
        }
    };
    row.window_secs = med(&|r| r.window_secs);
    row.acked_rps = med(&|r| r.acked_rps);
    row.acked_eps = med(&|r| r.acked_eps);
    row.delivered_eps = med(&|r| r.delivered_eps);
    row.latency = latency(|r| r.latency);
    row.ack_latency = latency(|r| r.ack_latency);
    row.cpu_secs = med_opt(&|r| r.cpu_secs);
    row.cpu_secs_per_100k_events = med_opt(&|r| r.cpu_secs_per_100k_events);
    row.redis_cpu_secs = med_opt(&|r| r.redis_cpu_secs);
    row.redis_cpu_secs_per_100k_events = med_opt(&|r| r.redis_cpu_secs_per_100k_events);
    row.delivered_by_node = (0..row.delivered_by_node.len())
        .map(|i| med(&|r| r.delivered_by_node.get(i).copied().unwrap_or(0.0)))
        .collect();
    row.loadgen_cpu_secs = med(&|r| r.loadgen_cpu_secs);
    row.sink_cpu_secs = med_opt(&|r| r.sink_cpu_secs);
    row.other_cpu_cores = med_opt(&|r| r.other_cpu_cores);
    row.peak_rss_kib = ok.iter().filter_map(|r| r.peak_rss_kib).max();
    row.backlog_at_end = ok.iter().map(|r| r.backlog_at_end).max().unwrap_or(0);
    row.bad_signatures = ok.iter().map(|r| r.bad_signatures).sum();
    row.duplicates = ok.iter().map(|r| r.duplicates).sum();
    row.lost = ok.iter().map(|r| r.lost).sum();
    row.unparsed = ok.iter().map(|r| r.unparsed).sum();
    row.status_503_retry_after = ok.iter().map(|r| r.status_503_retry_after).sum();
    row.errors = ok.iter().map(|r| r.errors).sum();
    row.unsent = ok.iter().map(|r| r.unsent).sum();
    row.non_200 = BTreeMap::new();
    for r in ok {
        for (status, n) in &r.non_200 {
            *row.non_200.entry(*status).or_default() += n;
        }
    }
    let ratio = |pick: fn(&Row) -> &Option<(String, f64)>| {
        let name = ok
            .iter()
            .find_map(|&r| pick(r).as_ref().map(|(n, _)| n.clone()))?;
        let values: Vec<f64> = ok
            .iter()
            .filter_map(|&r| pick(r).as_ref().map(|(_, x)| *x))
            .collect();
        let range = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        Some(((name, median(values)), range))
    };
    (row.vs_forwarder, row.vs_forwarder_range) = ratio(|r| &r.vs_forwarder).unzip();
    (row.vs_durable, row.vs_durable_range) = ratio(|r| &r.vs_durable).unzip();
    (row.vs_embedded, row.vs_embedded_range) = ratio(|r| &r.vs_embedded).unzip();
    (row.vs_one_node, row.vs_one_node_range) = ratio(|r| &r.vs_one_node).unzip();
    row.rounds = ok.len();
    // The gateway's logs and metrics over every round.
    if let Some(g) = &mut row.gateway {
        for other in ok[1..].iter().filter_map(|r| r.gateway.as_ref()) {
            g.absorb(other);
        }
    }
    row.round_errors = all.iter().filter_map(|r| r.error.clone()).collect();
    row
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n % 2 {
        1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn one_line(r: &Row) -> String {
    format!(
        "acked {} req/s, delivered {} ev/s, p50 {}, p99 {}{}",
        rate(r.acked_rps),
        rate(r.delivered_eps),
        micros(r.latency.p50_us),
        micros(r.latency.p99_us),
        r.vs_forwarder
            .as_ref()
            .map_or(String::new(), |(_, x)| format!(", {x:.2}× forwarder")),
    )
}

pub fn finish(
    rows: &[Row],
    per_round: &[Vec<Row>],
    meta: &Meta,
    json_path: &Path,
) -> anyhow::Result<()> {
    let find = |id: &str| rows.iter().find(|r| r.id == id && r.error.is_none());
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };

    let throughput: Vec<&Row> = rows
        .iter()
        .filter(|r| r.offered_rps.is_none() && r.group != "redis")
        .collect();
    let windows = format!(
        "{} s windows after {} s warm-up, {}",
        meta.timing.secs,
        meta.timing.warmup,
        match meta.rounds {
            1 => "1 round".to_owned(),
            n => format!("medians of {n} rounds"),
        },
    );
    let brackets = match meta.rounds {
        1 => "",
        _ => ", lowest–highest round in brackets",
    };
    if !throughput.is_empty() {
        line(format!(
            "\n## Throughput (closed loop, {windows}; ratios: delivered events/s{brackets})\n"
        ));
        line("| scenario | ev/req | conns | acked req/s | delivered ev/s | backlog at end | × forwarder | × durable-ref | ingest→sink p50 | p99 | CPU s / 100k ev | peak RSS MiB | other CPU (cores) | bad sig | non-200 / errors |".into());
        line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|".into());
    }
    for r in throughput {
        if let Some(error) = &r.error {
            line(format!(
                "| {} | failed: {} |||||||||||||",
                r.label,
                error.replace('|', "/")
            ));
            continue;
        }
        line(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.events_per_request,
            r.connections,
            rate(r.acked_rps),
            rate(r.delivered_eps),
            rate(r.backlog_at_end as f64),
            times(&r.vs_forwarder, r.vs_forwarder_range),
            times(&r.vs_durable, r.vs_durable_range),
            micros(r.latency.p50_us),
            micros(r.latency.p99_us),
            r.cpu_secs_per_100k_events
                .map_or("—".into(), |c| format!("{c:.2}")),
            r.peak_rss_kib
                .map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            r.other_cpu_cores.map_or("—".into(), |c| format!("{c:.2}")),
            r.bad_signatures,
            failures(r),
        ));
    }

    for l in scale_out_table(rows, meta, &windows, brackets) {
        line(l);
    }

    let latency = latency_summary(rows);
    if let (Some(gw), Some(direct)) = (find("latency-gateway"), find("latency-direct")) {
        line(format!(
            "\n## Latency (open loop at 50 % of the gateway's max rate, {} req/s, 1 ev/req, up to {} connections)\n",
            rate(gw.offered_rps.unwrap_or(0.0)),
            gw.connections
        ));
        line("| path | ingest→sink p50 | p99 | p99.9 | ack p99 | added p99 (vs loadgen → sink) | delivered ev/s |".into());
        line("|---|---:|---:|---:|---:|---:|---:|".into());
        for id in [
            "latency-direct",
            "latency-forwarder",
            "latency-durable",
            "latency-gateway",
        ] {
            let Some(r) = find(id) else { continue };
            line(format!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.label,
                micros(r.latency.p50_us),
                micros(r.latency.p99_us),
                micros(r.latency.p999_us),
                micros(r.ack_latency.p99_us),
                signed_micros(r.latency.p99_us as i64 - direct.latency.p99_us as i64),
                rate(r.delivered_eps),
            ));
        }
    }

    if let Some(r) = find("overload")
        && let Some(o) = &r.overload
    {
        line(format!(
            "\n## Overload (open loop at 2× max = {} req/s for {} s, up to {} connections)\n",
            rate(o.rate_rps),
            meta.timing.overload_secs,
            r.connections
        ));
        line("| acked req/s | last answer | ack p50 | ack p99 | gateway's own answer p99 | ingest→sink p99 | 503 + Retry-After | other non-200 / errors | RSS MiB before / end of load / peak / after drain | drain | acked events | lost | delivered unacked | duplicates |".into());
        line("|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|".into());
        let mib = |k: Option<u64>| k.map_or("—".into(), |k| format!("{:.0}", k as f64 / 1024.0));
        line(format!(
            "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} / {} / {} / {} | {:.1} s{} | {} | {} | {} | {} |",
            rate(r.acked_rps),
            r.window_secs,
            micros(r.ack_latency.p50_us),
            micros(r.ack_latency.p99_us),
            own_answer_p99(r),
            micros(r.latency.p99_us),
            r.status_503_retry_after,
            failures(r),
            mib(o.rss_before_kib),
            mib(o.rss_end_of_load_kib),
            mib(r.peak_rss_kib),
            mib(o.rss_after_drain_kib),
            o.drain_secs,
            if o.drained { "" } else { " (not drained)" },
            o.acked_events,
            o.lost,
            o.delivered_unacked,
            r.duplicates,
        ));
    }

    let filters_ratio = match (find("realistic-wasm"), find("realistic-nowasm")) {
        (Some(w), Some(n)) if n.delivered_eps > 0.0 => Some(w.delivered_eps / n.delivered_eps),
        _ => None,
    };
    if let Some(x) = filters_ratio {
        line(format!(
            "\nRealistic config with / without the wasm filters: {x:.2}× delivered events/s."
        ));
    }

    // What the gateway said went wrong: its warn/error log lines and failure counters.
    let gateway_notes: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let g = r.gateway.as_ref()?;
            let mut notes = Vec::new();
            if g.log_warnings + g.log_errors > 0 {
                notes.push(format!(
                    "{} warnings, {} errors in the log ({})",
                    g.log_warnings,
                    g.log_errors,
                    g.log_sample.join("; ")
                ));
            }
            for name in [
                "switchyard_filter_failures_total",
                "switchyard_dead_letters_total",
                "switchyard_delivery_attempts_total{outcome=\"failed\"}",
                "switchyard_delivery_retries_total",
            ] {
                if let Some(&n) = g.metrics.get(name).filter(|&&n| n > 0.0) {
                    notes.push(format!("{name} {n}"));
                }
            }
            (!notes.is_empty()).then(|| format!("{}: {}", r.id, notes.join("; ")))
        })
        .collect();
    if !gateway_notes.is_empty() {
        line("\nThe gateway reported (all rounds):".into());
        for l in &gateway_notes {
            line(format!("- {l}"));
        }
    }

    let mib = |k: Option<u64>| k.map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    if let Some(m) = &meta.idle_memory {
        line("\n## Idle memory (10 apps × 1 webhook, VmRSS 3 s after start)\n".into());
        line("| no filters | 10 channel-router filters, first start (compiles) | same, restarted (compiled module from `cache_dir`) |".into());
        line("|---:|---:|---:|".into());
        line(format!(
            "| {} MiB | {} MiB | {} MiB |",
            mib(m.no_filters_kib),
            mib(m.compiled_kib),
            mib(m.cached_kib)
        ));
    }

    let mut targets = targets(rows, filters_ratio, &latency);
    if let Some(m) = &meta.idle_memory {
        targets.push(Target {
            target: "idle RSS ≤ 30 MiB with 10 Rust filters loaded".into(),
            measured: format!(
                "{} MiB restarted on the filter cache, {} MiB on the start that compiled",
                mib(m.cached_kib),
                mib(m.compiled_kib)
            ),
            met: m.cached_kib.map(|k| k <= 30 * 1024),
        });
    }
    let only_scale_out = rows.iter().all(|r| r.group == "redis") && meta.idle_memory.is_none();
    if !only_scale_out {
        line("\n## Issue 10's targets (same run)\n".into());
        line("| target | measured | met |".into());
        line("|---|---|---|".into());
    }
    for t in targets.iter().filter(|_| !only_scale_out) {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        line(format!("| {} | {} | {} |", t.target, t.measured, met));
    }
    line(format!(
        "\ncommit {}, {} CPUs ({} busy with other processes before the run); built in {}; measured in {:.0} s; total {:.0} s. JSON: {}",
        meta.git.as_deref().unwrap_or("?"),
        meta.cpus,
        meta.busy_cores_before
            .map_or("?".into(), |b| format!("{b:.1}")),
        if meta.build_secs.is_empty() {
            "— (--no-build)".to_owned()
        } else {
            meta.build_secs
                .iter()
                .map(|(k, v)| format!("{k} {v:.0} s"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        meta.measure_secs,
        meta.total_secs,
        json_path.display()
    ));
    println!("{out}");

    let document = json!({
        "meta": meta,
        "rows": rows,
        "rounds": per_round,
        "summary": {
            "per_node_efficiency": rows
                .iter()
                .filter_map(|r| Some((r.id.clone(), efficiency(r)?.0)))
                .collect::<BTreeMap<_, _>>(),
            "latency": latency,
            "filters_ratio": filters_ratio,
            "targets": targets,
        },
        "markdown": out,
    });
    if let Some(parent) = json_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(json_path, serde_json::to_string_pretty(&document)?)?;
    Ok(())
}

/// N-node delivered events/s ÷ (N × the same queue's 1-node), and its range over the rounds.
fn efficiency(r: &Row) -> Option<(f64, Option<(f64, f64)>)> {
    let n = r.nodes.max(1) as f64;
    let (_, x) = r.vs_one_node.as_ref()?;
    Some((x / n, r.vs_one_node_range.map(|(lo, hi)| (lo / n, hi / n))))
}

/// The `redis` group's table, and what it can and cannot show on this machine.
fn scale_out_table(rows: &[Row], meta: &Meta, windows: &str, brackets: &str) -> Vec<String> {
    let scale: Vec<&Row> = rows.iter().filter(|r| r.group == "redis").collect();
    let Some(first) = scale.first() else {
        return Vec::new();
    };
    let mut out = vec![
        format!(
            "\n## Redis scale-out (closed loop, {windows}, simple config, 1 ev/req, {} connections spread over the nodes; ratios: delivered events/s{brackets})\n",
            first.connections
        ),
        format!(
            "Every gateway node, redis-server, the load generator and the sink share this machine's {} cores: more nodes cannot deliver more here, each one added takes CPU from the others. *× 1 node* and *per-node efficiency* (N-node events/s ÷ (N × 1-node events/s)) measure what spreading the same load over more nodes costs, not how far the queue scales across machines.\n",
            meta.cpus
        ),
        "| scenario | nodes | acked req/s | delivered ev/s | × embedded, 1 node | × 1 node | per-node efficiency | gateways' CPU s / 100k ev | redis-server CPU s / 100k ev | ingest→sink p50 | p99 | delivered by each node | other CPU (cores) | bad sig | duplicates | lost | non-200 / errors |".into(),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|".into(),
    ];
    let cpu = |c: Option<f64>| c.map_or("—".into(), |c| format!("{c:.2}"));
    for r in scale {
        if let Some(error) = &r.error {
            out.push(format!(
                "| {} | failed: {} ||||||||||||||||",
                r.label,
                error.replace('|', "/")
            ));
            continue;
        }
        let efficiency = match efficiency(r) {
            Some((x, Some((lo, hi)))) if hi > lo => format!("{x:.2} ({lo:.2}–{hi:.2})"),
            Some((x, _)) => format!("{x:.2}"),
            None => "—".into(),
        };
        let shares: Vec<String> = r
            .delivered_by_node
            .iter()
            .map(|s| format!("{:.0} %", s * 100.0))
            .collect();
        out.push(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.nodes,
            rate(r.acked_rps),
            rate(r.delivered_eps),
            times(&r.vs_embedded, r.vs_embedded_range),
            times(&r.vs_one_node, r.vs_one_node_range),
            efficiency,
            cpu(r.cpu_secs_per_100k_events),
            cpu(r.redis_cpu_secs_per_100k_events),
            micros(r.latency.p50_us),
            micros(r.latency.p99_us),
            if shares.is_empty() {
                "—".into()
            } else {
                shares.join(" / ")
            },
            cpu(r.other_cpu_cores),
            r.bad_signatures,
            r.duplicates,
            r.lost.map_or("—".into(), |n| n.to_string()),
            failures(r),
        ));
    }
    out
}

#[derive(Debug, Serialize)]
struct LatencySummary {
    p99_direct_us: Option<u64>,
    p99_forwarder_us: Option<u64>,
    p99_gateway_us: Option<u64>,
    /// Ingest→sink p99 through the gateway minus the load generator's straight to the sink.
    added_p99_gateway_us: Option<i64>,
    added_p99_forwarder_us: Option<i64>,
}

fn latency_summary(rows: &[Row]) -> LatencySummary {
    let p99 = |id: &str| {
        rows.iter()
            .find(|r| r.id == id && r.error.is_none())
            .map(|r| r.latency.p99_us)
    };
    let (direct, fwd, gw) = (
        p99("latency-direct"),
        p99("latency-forwarder"),
        p99("latency-gateway"),
    );
    let added = |x: Option<u64>| Some(x? as i64 - direct? as i64);
    LatencySummary {
        p99_direct_us: direct,
        p99_forwarder_us: fwd,
        p99_gateway_us: gw,
        added_p99_gateway_us: added(gw),
        added_p99_forwarder_us: added(fwd),
    }
}

#[derive(Debug, Serialize)]
struct Target {
    target: String,
    measured: String,
    met: Option<bool>,
}

fn targets(rows: &[Row], filters_ratio: Option<f64>, latency: &LatencySummary) -> Vec<Target> {
    let find = |id: &str| rows.iter().find(|r| r.id == id && r.error.is_none());
    let mut out = Vec::new();
    let mut ratio_target =
        |target: &str, id: &str, pick: fn(&Row) -> &Option<(String, f64)>, at_least: f64| {
            let x = find(id).and_then(|r| pick(r).as_ref().map(|(_, x)| *x));
            out.push(Target {
                target: target.into(),
                measured: x.map_or("not measured".into(), |x| format!("{x:.2}×")),
                met: x.map(|x| x >= at_least),
            });
        };
    ratio_target(
        "simple, 1 ev/req: ≥ 1.0× the forwarder",
        "gateway-1",
        |r| &r.vs_forwarder,
        1.0,
    );
    ratio_target(
        "simple, 1 ev/req: ≥ 0.85× the durable reference",
        "gateway-1",
        |r| &r.vs_durable,
        0.85,
    );
    ratio_target(
        "20 ev/req: ≥ 0.85× the durable reference",
        "gateway-20",
        |r| &r.vs_durable,
        0.85,
    );
    ratio_target(
        "one event per delivery: ≥ 0.8× the forwarder",
        "gateway-per-event",
        |r| &r.vs_forwarder,
        0.8,
    );
    out.push(Target {
        target: "added p99 latency at 50 % of max ≤ 5 ms".into(),
        measured: latency
            .added_p99_gateway_us
            .map_or("not measured".into(), signed_micros),
        met: latency.added_p99_gateway_us.map(|us| us <= 5000),
    });
    if let Some(r) = find("overload")
        && let Some(o) = &r.overload
    {
        let other_failures = r.errors + r.non_200.values().sum::<u64>();
        let keeps_up = r.acked_rps >= 0.95 * o.rate_rps;
        out.push(Target {
            target: "overload: keeps up, or answers 503 with Retry-After".into(),
            measured: format!(
                "acked {} of {} req/s; {} × 503 + Retry-After; {} other failures",
                rate(r.acked_rps),
                rate(o.rate_rps),
                r.status_503_retry_after,
                other_failures
            ),
            met: Some(other_failures == 0 && (keeps_up || r.status_503_retry_after > 0)),
        });
        out.push(Target {
            target: "overload: ack p99 < 100 ms".into(),
            measured: format!(
                "{} from the scheduled send (the load generator's own queue included); the gateway's own answer p99 {}",
                micros(r.ack_latency.p99_us),
                own_answer_p99(r)
            ),
            met: Some(r.ack_latency.p99_us < 100_000),
        });
        let mib = |k: Option<u64>| k.map_or("—".into(), |k| format!("{:.0}", k as f64 / 1024.0));
        out.push(Target {
            target: "overload: RSS stays bounded".into(),
            measured: format!(
                "{} MiB before, {} at the end of the load, {} peak, {} after the drain",
                mib(o.rss_before_kib),
                mib(o.rss_end_of_load_kib),
                mib(r.peak_rss_kib),
                mib(o.rss_after_drain_kib)
            ),
            met: None,
        });
        out.push(Target {
            target: "overload: the backlog drains, nothing acknowledged lost".into(),
            measured: format!(
                "{} acked events, {} lost, drain {:.1} s{}",
                o.acked_events,
                o.lost,
                o.drain_secs,
                if o.drained { "" } else { ", not drained" }
            ),
            met: Some(o.drained && o.lost == 0),
        });
    }
    out.push(Target {
        target: "filters: one wasm filter per webhook costs ≤ 10 %".into(),
        measured: filters_ratio.map_or("not measured".into(), |x| {
            format!("{x:.2}× without filters")
        }),
        met: filters_ratio.map(|x| x >= 0.9),
    });
    let bad: u64 = rows.iter().map(|r| r.bad_signatures).sum();
    out.push(Target {
        target: "every delivery correctly signed".into(),
        measured: format!("{bad} bad signatures"),
        met: Some(bad == 0),
    });
    out
}

/// The bucket bound under which 99 % of the gateway's answers fell, from its own
/// `switchyard_ingest_duration_seconds` histogram: time from taking a request to answering it,
/// without the time the request waited to be sent or accepted.
fn own_answer_p99(r: &Row) -> String {
    let Some(gateway) = &r.gateway else {
        return "—".into();
    };
    let mut buckets: Vec<(f64, f64)> = gateway
        .metrics
        .iter()
        .filter_map(|(series, &count)| {
            let le = series
                .strip_prefix("switchyard_ingest_duration_seconds_bucket{le=\"")?
                .strip_suffix("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(_, total)) = buckets.last() else {
        return "—".into();
    };
    match buckets.iter().find(|(_, count)| *count >= 0.99 * total) {
        Some((le, _)) if le.is_finite() => format!("≤ {}", micros((le * 1e6) as u64)),
        _ => "> 10 s".into(),
    }
}

fn times(ratio: &Option<(String, f64)>, range: Option<(f64, f64)>) -> String {
    match (ratio, range) {
        (None, _) => "—".into(),
        (Some((_, x)), Some((lo, hi))) if hi > lo => format!("{x:.2}× ({lo:.2}–{hi:.2})"),
        (Some((_, x)), _) => format!("{x:.2}×"),
    }
}

fn failures(r: &Row) -> String {
    let mut parts: Vec<String> = r.non_200.iter().map(|(s, n)| format!("{n}×{s}")).collect();
    if r.status_503_retry_after > 0 {
        parts.push(format!("{}×503+RA", r.status_503_retry_after));
    }
    if r.errors > 0 {
        parts.push(format!("{} errors", r.errors));
    }
    if r.unsent > 0 {
        parts.push(format!("{} unsent", r.unsent));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(", ")
    }
}

/// 21193.4 → "21,193".
fn rate(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn signed_micros(us: i64) -> String {
    match us < 0 {
        true => format!("−{}", micros(us.unsigned_abs())),
        false => micros(us as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(rate(21193.4), "21,193");
        assert_eq!(rate(999.0), "999");
        assert_eq!(rate(1000.0), "1,000");
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(3_700), "3.7 ms");
        assert_eq!(micros(4_000_000), "4.00 s");
        assert_eq!(signed_micros(-1500), "−1.5 ms");
    }

    #[test]
    fn ratios_show_their_spread_over_rounds() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![1.0, 2.0]), 1.5);
        let r = Some(("forwarder-1".to_owned(), 0.7));
        assert_eq!(times(&r, Some((0.6, 0.8))), "0.70× (0.60–0.80)");
        assert_eq!(times(&r, Some((0.7, 0.7))), "0.70×");
        assert_eq!(times(&None, None), "—");
    }
}
