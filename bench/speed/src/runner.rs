//! `speed run`: builds the gateway and the filter, starts every process of each scenario,
//! measures a window after a warm-up, stops them, and hands the rows to the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::loadgen::LoadReport;
use crate::memory;
use crate::metrics::{Latency, cpu_seconds, now_ms, status_kib};
use crate::redis;
use crate::report;
use crate::scenarios::{self, APPS, Load, Queue, Scenario, Shape, System};
use crate::sink::SinkStats;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// About 2 minutes instead of about 10: shorter windows, a 10 s overload.
    #[arg(long)]
    pub quick: bool,
    /// Where to write every figure (default: speed-results.json in the cargo target dir).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Scenario ids or groups (baseline, durable, simple, realistic, latency, overload, redis),
    /// and `memory` (idle RSS with 10 filters), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Measuring window of each scenario, seconds.
    #[arg(long)]
    pub secs: Option<f64>,
    /// Warm-up before each window, seconds.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Length of the overload's open loop, seconds.
    #[arg(long)]
    pub overload_secs: Option<f64>,
    /// Use the gateway and filter already built in the target dir.
    #[arg(long)]
    pub no_build: bool,
    /// Rounds of the steady scenarios (default 2, quick 1): the table shows medians, and the
    /// spread of each ratio over the rounds.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Keep the temp dir with every process's log, configs and queue files.
    #[arg(long)]
    pub keep_logs: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    pub secs: f64,
    pub warmup: f64,
    pub overload_secs: f64,
    pub drain_timeout_secs: f64,
}

/// One scenario's figures: the table's row and everything else worth keeping.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub id: String,
    pub group: String,
    pub label: String,
    pub system: String,
    /// `embedded` or `redis appendfsync always|everysec`, and the gateway nodes sharing it.
    pub queue: String,
    pub nodes: usize,
    pub events_per_request: u64,
    pub connections: usize,
    pub offered_rps: Option<f64>,
    pub window_secs: f64,
    pub acked_rps: f64,
    pub acked_eps: f64,
    /// Sink-counted, over the same window.
    pub delivered_eps: f64,
    pub vs_forwarder: Option<(String, f64)>,
    pub vs_durable: Option<(String, f64)>,
    /// Over the rounds: how many measured it, and each ratio's lowest and highest.
    pub rounds: usize,
    pub vs_forwarder_range: Option<(f64, f64)>,
    pub vs_durable_range: Option<(f64, f64)>,
    /// Redis rows: to the embedded store's row, and to the same queue's 1-node row.
    pub vs_embedded: Option<(String, f64)>,
    pub vs_one_node: Option<(String, f64)>,
    pub vs_embedded_range: Option<(f64, f64)>,
    pub vs_one_node_range: Option<(f64, f64)>,
    /// Ingest→sink, per event, measured by the sink.
    pub latency: Latency,
    /// Request→answer, measured by the load generator.
    pub ack_latency: Latency,
    /// Of the system's processes (every gateway node) together.
    pub cpu_secs: Option<f64>,
    pub cpu_secs_per_100k_events: Option<f64>,
    /// Of `redis-server`, in the Redis rows.
    pub redis_cpu_secs: Option<f64>,
    pub redis_cpu_secs_per_100k_events: Option<f64>,
    /// The highest of the system's processes.
    pub peak_rss_kib: Option<u64>,
    pub bad_signatures: u64,
    pub duplicates: u64,
    pub unparsed: u64,
    pub non_200: BTreeMap<u16, u64>,
    pub status_503_retry_after: u64,
    pub errors: u64,
    pub unsent: u64,
    /// Acknowledged minus delivered events when the load stopped (what was still waiting).
    pub backlog_at_end: i64,
    pub loadgen_cpu_secs: f64,
    pub sink_cpu_secs: Option<f64>,
    /// CPU cores busy in the window with something other than the system, the load generator
    /// and the sink (other builds on a shared machine): the noise of this row.
    pub other_cpu_cores: Option<f64>,
    /// Each node's share of the events delivered (its `switchyard_events_delivered_total`).
    pub delivered_by_node: Vec<f64>,
    /// With `count_losses`: acknowledged events the sink had not seen once the backlog drained.
    pub lost: Option<u64>,
    pub gateway: Option<GatewayInfo>,
    pub overload: Option<Overload>,
    pub error: Option<String>,
    /// Rounds that failed (the row combines the others).
    pub round_errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayInfo {
    /// Sums over series of a few `/metrics` families, read just before stopping it, and the
    /// ingest duration histogram's buckets.
    pub metrics: BTreeMap<String, f64>,
    pub log_warnings: u64,
    pub log_errors: u64,
    /// Distinct messages, and the first lines whole (fields included).
    pub log_sample: Vec<String>,
    pub log_first_lines: Vec<String>,
}

impl GatewayInfo {
    /// Adds another node's (or round's) log counts and metrics to these.
    pub fn absorb(&mut self, other: &GatewayInfo) {
        self.log_warnings += other.log_warnings;
        self.log_errors += other.log_errors;
        for m in &other.log_sample {
            if !self.log_sample.contains(m) {
                self.log_sample.push(m.clone());
            }
        }
        for (name, value) in &other.metrics {
            *self.metrics.entry(name.clone()).or_default() += value;
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Overload {
    pub rate_rps: f64,
    pub acked_events: u64,
    pub delivered_unique: u64,
    /// Acknowledged events the sink never saw.
    pub lost: u64,
    /// Events the sink saw whose request was not acknowledged (a timeout, or a 5xx after storing).
    pub delivered_unacked: u64,
    pub drained: bool,
    /// From the end of the load to the last delivery.
    pub drain_secs: f64,
    /// VmRSS before the load, when it stopped, and after the drain and 5 s idle.
    pub rss_before_kib: Option<u64>,
    pub rss_end_of_load_kib: Option<u64>,
    pub rss_after_drain_kib: Option<u64>,
    /// (seconds since the load started, VmRSS KiB), every second, load and drain.
    pub rss_series: Vec<(f64, u64)>,
}

struct Ctx {
    exe: PathBuf,
    gateway_bin: PathBuf,
    filter_wasm: PathBuf,
    tmp: PathBuf,
    sink_port: u16,
    sink_pid: u32,
    http: reqwest::Client,
    timing: Timing,
    /// The gateway's maximum rate (simple config, 1 event/request), once measured.
    max_rps: Option<f64>,
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let timing = match args.quick {
        true => Timing {
            secs: 4.0,
            warmup: 1.0,
            overload_secs: 10.0,
            drain_timeout_secs: 45.0,
        },
        false => Timing {
            secs: 12.0,
            warmup: 2.0,
            overload_secs: 30.0,
            drain_timeout_secs: 120.0,
        },
    };
    let timing = Timing {
        secs: args.secs.unwrap_or(timing.secs),
        warmup: args.warmup.unwrap_or(timing.warmup),
        overload_secs: args.overload_secs.unwrap_or(timing.overload_secs),
        ..timing
    };
    let (memory, selection): (Vec<String>, Vec<String>) =
        args.scenarios.iter().cloned().partition(|s| s == "memory");
    let measure_memory = args.scenarios.is_empty() || !memory.is_empty();
    let selected = match selection.is_empty() && measure_memory && !args.scenarios.is_empty() {
        true => Vec::new(),
        false => scenarios::select(&selection)?,
    };

    let (root, target_dir) = workspace()?;
    let mut build_secs = BTreeMap::new();
    if !args.no_build {
        for (what, cargo_args) in [
            (
                "gateway",
                &[
                    "build",
                    "--release",
                    "-p",
                    "switchyard",
                    "--bin",
                    "switchyard",
                ][..],
            ),
            (
                "filter",
                &[
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "-p",
                    "filter-channel-router",
                ][..],
            ),
        ] {
            let at = Instant::now();
            eprintln!("speed: cargo {}", cargo_args.join(" "));
            let status = std::process::Command::new(cargo())
                .args(cargo_args)
                .current_dir(&root)
                .status()
                .context("running cargo")?;
            anyhow::ensure!(status.success(), "building the {what} failed");
            build_secs.insert(what.to_owned(), at.elapsed().as_secs_f64());
        }
    }
    let gateway_bin = target_dir.join("release/switchyard");
    let filter_wasm = target_dir.join("wasm32-wasip2/release/filter_channel_router.wasm");
    for file in [&gateway_bin, &filter_wasm] {
        anyhow::ensure!(
            file.exists(),
            "{} is missing (drop --no-build?)",
            file.display()
        );
    }

    let tmp = tempfile::Builder::new()
        .prefix("switchyard-speed-")
        .tempdir()?;
    let secrets = APPS.map(|(k, s)| format!("{k}={s}")).join(",");
    let sink_port = free_port()?;
    let exe = std::env::current_exe()?;
    let sink = spawn(
        Command::new(&exe).args([
            "sink",
            "--port",
            &sink_port.to_string(),
            "--secrets",
            &secrets,
        ]),
        &tmp.path().join("sink.log"),
    )?;
    let http = reqwest::Client::new();
    wait_ready(&http, &format!("http://127.0.0.1:{sink_port}/stats"), &sink).await?;
    let mut ctx = Ctx {
        exe,
        gateway_bin,
        filter_wasm,
        tmp: tmp.path().to_owned(),
        sink_port,
        sink_pid: sink.pid(),
        http,
        timing,
        max_rps: None,
    };

    // How busy the machine is before anything of ours runs: other builds skew every figure.
    let busy_before = busy_cores_over(Duration::from_secs(2)).await;
    if let Some(busy) = busy_before.filter(|&b| b > 0.3) {
        eprintln!(
            "speed: warning: {busy:.1} cores busy before the run (other processes); expect noisy figures"
        );
    }
    let measured_at = Instant::now();
    // Rounds of every steady scenario, then the overload once (it leaves the machine hot).
    let (overload, steady): (Vec<&Scenario>, Vec<&Scenario>) =
        selected.iter().partition(|s| s.group == "overload");
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 2 }).max(1);
    let estimate = rounds as f64 * steady.len() as f64 * (timing.warmup + timing.secs + 1.5)
        + overload.len() as f64 * (timing.overload_secs + 25.0);
    eprintln!(
        "speed: {} scenarios × {rounds} round(s){}, about {:.0} min (windows of {} s after {} s of warm-up); processes log to {}",
        steady.len(),
        if overload.is_empty() {
            ""
        } else {
            " + overload"
        },
        estimate / 60.0,
        timing.secs,
        timing.warmup,
        ctx.tmp.display()
    );
    let total = rounds * steady.len() + overload.len();
    let mut done = 0;
    let mut per_round: Vec<Vec<Row>> = Vec::new();
    for round in 0..rounds {
        let mut rows: Vec<Row> = Vec::new();
        for scenario in &steady {
            done += 1;
            let row = run_logged(&ctx, scenario, &rows, (done, total), args.keep_logs).await;
            // What the gateway sustains: acknowledged, and delivered without a growing
            // backlog; the best of 32 and 128 connections (with fsync, fewer connections mean
            // smaller group commits, so 32 alone understates it). From the first round, so
            // every round's latency runs at the same rate.
            if round == 0 && scenarios::MAX_RATE_FROM.contains(&scenario.id) && row.error.is_none()
            {
                let sustained = row.acked_rps.min(row.delivered_eps);
                ctx.max_rps = Some(ctx.max_rps.map_or(sustained, |m: f64| m.max(sustained)));
            }
            rows.push(row);
        }
        per_round.push(rows);
    }
    let mut rows = report::combine_rounds(&steady, &per_round);
    let idle_memory = match measure_memory {
        true => {
            eprint!("speed: idle memory, 10 filters");
            let dir = ctx.tmp.join("memory");
            let measured = memory::measure(
                &ctx.gateway_bin,
                &ctx.filter_wasm,
                &dir,
                ctx.sink_port,
                &ctx.http,
            )
            .await;
            eprintln!(" {measured:?}");
            measured.ok()
        }
        false => None,
    };
    for scenario in overload {
        done += 1;
        let row = run_logged(&ctx, scenario, &rows, (done, total), args.keep_logs).await;
        rows.push(row);
    }
    sink.stop().await;
    if args.keep_logs {
        eprintln!("speed: logs kept in {}", tmp.keep().display());
    }

    let meta = report::Meta {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        quick: args.quick,
        timing,
        started_at_ms: now_ms() - started.elapsed().as_millis() as u64,
        build_secs,
        measure_secs: measured_at.elapsed().as_secs_f64(),
        total_secs: started.elapsed().as_secs_f64(),
        gateway_max_rps: ctx.max_rps,
        busy_cores_before: busy_before,
        rounds,
        git: git_describe(&root),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        idle_memory,
    };
    let json = args
        .json
        .unwrap_or_else(|| target_dir.join("speed-results.json"));
    report::finish(&rows, &per_round, &meta, &json)
}

/// Runs one scenario, prints a line about it, and adds its ratios to `earlier` rows.
async fn run_logged(
    ctx: &Ctx,
    scenario: &Scenario,
    earlier: &[Row],
    (n, total): (usize, usize),
    keep_logs: bool,
) -> Row {
    eprint!("speed: [{n}/{total}] {:<40}", scenario.label);
    let outcome = run_one(ctx, scenario).await;
    if !keep_logs {
        // Queue files of a fast scenario take hundreds of MB: not kept for the whole run.
        let _ = std::fs::remove_dir_all(ctx.tmp.join(scenario.id));
    }
    let mut row = match outcome {
        Ok(row) => row,
        Err(e) => {
            let error = format!("{e:#}");
            eprintln!(" FAILED: {error}");
            return Row {
                id: scenario.id.into(),
                label: scenario.label.into(),
                error: Some(error),
                ..Row::default()
            };
        }
    };
    report::add_ratios(&mut row, scenario, earlier);
    eprintln!(" {}", report::one_line(&row));
    row
}

async fn run_one(ctx: &Ctx, sc: &Scenario) -> anyhow::Result<Row> {
    let sink_url = |path: &str| format!("http://127.0.0.1:{}{path}", ctx.sink_port);
    ctx.http
        .post(sink_url("/reset"))
        .send()
        .await?
        .error_for_status()?;
    let dir = ctx.tmp.join(sc.id);
    std::fs::create_dir_all(&dir)?;
    let (key, secret) = APPS[0];
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let log = dir.join(format!("{}.log", system_name(sc.system)));

    let redis = match sc.queue {
        Queue::Redis { fsync_always } => {
            Some(redis::start(&dir.join("redis"), fsync_always).await?)
        }
        Queue::Embedded => None,
    };
    let redis_pid = redis.as_ref().map(|(p, _)| p.pid());

    // The system under test (a process per gateway node), and where the load goes.
    let (suts, targets, gateway_ports) = match sc.system {
        System::Direct => (Vec::new(), vec![sink_url("/hook/direct")], Vec::new()),
        System::Forwarder => {
            let to = sink_url("/hook/forwarder");
            let p = spawn(
                Command::new(&ctx.exe).args([
                    "forwarder",
                    "--listen",
                    &listen,
                    "--to",
                    &to,
                    "--secret",
                    secret,
                ]),
                &log,
            )?;
            (
                vec![p],
                vec![format!("http://{listen}/ingest/pusher")],
                Vec::new(),
            )
        }
        System::DurableRef {
            fsync,
            per_delivery,
        } => {
            let to = sink_url("/hook/durable-ref");
            let mut cmd = Command::new(&ctx.exe);
            cmd.args([
                "durable-ref",
                "--listen",
                &listen,
                "--to",
                &to,
                "--key",
                key,
                "--secret",
                secret,
            ])
            .arg("--dir")
            .arg(&dir)
            .args(["--max-per-delivery", &per_delivery.to_string()]);
            if !fsync {
                cmd.arg("--no-fsync");
            }
            (
                vec![spawn(&mut cmd, &log)?],
                vec![format!("http://{listen}/ingest/pusher")],
                Vec::new(),
            )
        }
        System::Gateway(shape) => {
            let redis_url = redis.as_ref().map(|(_, url)| url.as_str());
            let (mut nodes, mut targets, mut ports) = (Vec::new(), Vec::new(), Vec::new());
            for node in 0..sc.nodes {
                // One node keeps the scenario's directory; several get one each.
                let (dir, port) = match node {
                    0 if sc.nodes == 1 => (dir.clone(), port),
                    _ => (dir.join(format!("node-{node}")), free_port()?),
                };
                std::fs::create_dir_all(&dir)?;
                nodes.push(start_gateway(ctx, shape, &dir, port, redis_url)?);
                targets.push(format!("http://127.0.0.1:{port}/ingest/pusher"));
                ports.push(port);
            }
            (nodes, targets, ports)
        }
    };
    for (i, p) in suts.iter().enumerate() {
        let ready = match gateway_ports.get(i) {
            Some(port) => format!("http://127.0.0.1:{port}/healthz"),
            None => format!("http://{listen}/"),
        };
        wait_ready(&ctx.http, &ready, p).await?;
    }
    if sc.nodes > 1 {
        // Nodes that joined take their share of the (idle) lanes within a renewal or two
        // (250 ms each); the load starts once they have.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let sut_pids: Vec<u32> = suts.iter().map(Proc::pid).collect();

    let apps = match sc.system {
        System::Gateway(Shape::Realistic { .. }) => APPS.map(|(k, s)| format!("{k}={s}")).join(","),
        _ => format!("{key}={secret}"),
    };
    let overload = matches!(sc.load, Load::Open { of_max } if of_max > 1.0);
    let (warmup, secs) = match overload {
        true => (0.0, ctx.timing.overload_secs),
        false => (ctx.timing.warmup, ctx.timing.secs),
    };
    let mut load_args: Vec<String> = [
        "loadgen",
        "--target",
        &targets.join(","),
        "--apps",
        &apps,
        "--events-per-request",
        &sc.events_per_request.to_string(),
        "--connections",
        &sc.connections.to_string(),
        "--warmup",
        &warmup.to_string(),
        "--secs",
        &secs.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let rate = match sc.load {
        Load::Closed => None,
        Load::Open { of_max } => {
            let max = ctx.max_rps.context(
                "the gateway's maximum rate was not measured (gateway-1 and gateway-c128 failed)",
            )?;
            Some(of_max * max / sc.events_per_request as f64)
        }
    };
    if let Some(rate) = rate {
        load_args.extend(["--rate".into(), format!("{rate:.1}")]);
    }
    let acked_file = dir.join("acked.bits");
    if overload || sc.count_losses {
        load_args.extend(["--acked-out".into(), acked_file.display().to_string()]);
    }

    // Memory over time (the overload's question: does RSS stay bounded?).
    let rss_series = Arc::new(Mutex::new(Vec::new()));
    let sampler = sut_pids.first().map(|&pid| {
        let series = rss_series.clone();
        tokio::spawn(async move {
            let at = Instant::now();
            loop {
                if let Some(kib) = status_kib(pid, "VmRSS") {
                    series
                        .lock()
                        .unwrap()
                        .push((at.elapsed().as_secs_f64(), kib));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    });

    let window = drive_load(
        ctx,
        (&sut_pids, redis_pid),
        &load_args,
        &dir.join("loadgen.log"),
        warmup + secs,
    )
    .await;
    let window = match window {
        Ok(w) => w,
        Err(e) => {
            if let Some(s) = sampler {
                s.abort();
            }
            let tail = suts.first().map_or(String::new(), Proc::log_tail);
            stop_all(suts).await;
            bail!("{e:#}{tail}");
        }
    };
    let end_of_load = rss_series.lock().unwrap().last().map(|&(_, kib)| kib);

    let events = window.sink.window.events;
    let per_100k = |cpu: Option<f64>| cpu.filter(|_| events > 0).map(|c| c / events as f64 * 1e5);
    let mut row = Row {
        id: sc.id.into(),
        group: sc.group.into(),
        label: sc.label.into(),
        system: system_name(sc.system).into(),
        queue: match sc.queue {
            Queue::Embedded => "embedded".into(),
            Queue::Redis { fsync_always: true } => "redis appendfsync always".into(),
            Queue::Redis {
                fsync_always: false,
            } => "redis appendfsync everysec".into(),
        },
        nodes: suts.len(),
        events_per_request: sc.events_per_request,
        rounds: 1,
        connections: sc.connections,
        offered_rps: rate,
        window_secs: window.secs,
        acked_rps: window.load.acked_rps,
        acked_eps: window.load.acked_eps,
        delivered_eps: events as f64 / window.secs,
        latency: window.sink.window.latency,
        ack_latency: window.load.ack_latency,
        cpu_secs: window.sut_cpu,
        cpu_secs_per_100k_events: per_100k(window.sut_cpu),
        redis_cpu_secs: window.redis_cpu,
        redis_cpu_secs_per_100k_events: per_100k(window.redis_cpu),
        non_200: window.load.statuses.clone(),
        status_503_retry_after: window.load.status_503_retry_after,
        errors: window.load.errors,
        unsent: window.load.unsent,
        backlog_at_end: window.load.total_acked_events as i64 - window.sink.total.unique as i64,
        loadgen_cpu_secs: window.load.cpu_secs,
        sink_cpu_secs: window.sink_cpu,
        other_cpu_cores: window.busy_cores.map(|busy| {
            let ours = [window.sut_cpu, window.sink_cpu, window.redis_cpu]
                .into_iter()
                .flatten()
                .sum::<f64>();
            (busy - (ours + window.load.cpu_secs) / window.secs).max(0.0)
        }),
        ..Row::default()
    };

    let first_port = gateway_ports.first().copied();
    if overload {
        row.overload = Some(
            drain(
                ctx,
                &window,
                first_port,
                sut_pids.first().copied(),
                &acked_file,
                &rss_series,
                end_of_load,
            )
            .await?,
        );
    } else if sc.count_losses {
        let check = wait_and_compare(ctx, window.load.total_acked_events, first_port, &acked_file);
        row.lost = Some(check.await?.lost);
    }
    if let Some(s) = sampler {
        s.abort();
    }
    let mut infos = Vec::new();
    for (port, p) in gateway_ports.iter().zip(&suts) {
        infos.push(gateway_info(ctx, *port, &p.log).await);
    }
    let delivered = |i: &GatewayInfo| {
        let name = "switchyard_events_delivered_total";
        i.metrics.get(name).copied().unwrap_or(0.0)
    };
    let all_delivered: f64 = infos.iter().map(delivered).sum();
    if infos.len() > 1 && all_delivered > 0.0 {
        row.delivered_by_node = infos.iter().map(|i| delivered(i) / all_delivered).collect();
    }
    row.gateway = infos.into_iter().reduce(|mut all, node| {
        all.absorb(&node);
        all
    });
    row.peak_rss_kib = sut_pids
        .iter()
        .filter_map(|&pid| status_kib(pid, "VmHWM"))
        .max();
    stop_all(suts).await;
    if let Some((server, _)) = redis {
        server.stop().await;
    }
    let total = sink_stats(ctx).await?.total;
    (row.bad_signatures, row.duplicates, row.unparsed) =
        (total.bad_signatures, total.duplicates, total.unparsed);
    Ok(row)
}

/// Starts a gateway node with `shape`'s config in `dir`, listening on `port`, its queue in
/// `dir` or in the Redis at `redis_url`.
fn start_gateway(
    ctx: &Ctx,
    shape: Shape,
    dir: &Path,
    port: u16,
    redis_url: Option<&str>,
) -> anyhow::Result<Proc> {
    let filter = "channel_router.wasm";
    if shape == (Shape::Realistic { wasm: true }) {
        std::fs::copy(&ctx.filter_wasm, dir.join(filter))?;
    }
    let config = dir.join("switchyard.toml");
    let text = scenarios::gateway_config(shape, port, dir, redis_url, ctx.sink_port, filter);
    std::fs::write(&config, text)?;
    let mut cmd = Command::new(&ctx.gateway_bin);
    cmd.args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn");
    spawn(&mut cmd, &dir.join("gateway.log"))
}

/// Stops every process at once (a Redis node drained by SIGTERM hands its lanes over).
async fn stop_all(procs: Vec<Proc>) {
    let stopping: Vec<_> = procs.into_iter().map(|p| tokio::spawn(p.stop())).collect();
    for s in stopping {
        let _ = s.await;
    }
}

/// What one measuring window saw, from the load generator, the sink and /proc.
struct Window {
    secs: f64,
    load: LoadReport,
    sink: SinkStats,
    /// Of every process of the system together.
    sut_cpu: Option<f64>,
    redis_cpu: Option<f64>,
    sink_cpu: Option<f64>,
    /// Cores busy machine-wide in the window (`/proc/stat`).
    busy_cores: Option<f64>,
}

/// CPU seconds of `pids` together; none if there are none or one is gone.
fn cpu_of(pids: &[u32]) -> Option<f64> {
    let each: Option<Vec<f64>> = pids.iter().map(|&pid| cpu_seconds(pid)).collect();
    each.filter(|e| !e.is_empty()).map(|e| e.iter().sum())
}

/// Runs the load generator; snapshots the sink's, the system's and Redis's CPU when it
/// announces the window and when it reports.
async fn drive_load(
    ctx: &Ctx,
    (sut_pids, redis_pid): (&[u32], Option<u32>),
    args: &[String],
    log: &Path,
    planned_secs: f64,
) -> anyhow::Result<Window> {
    let mut cmd = Command::new(&ctx.exe);
    cmd.args(args).stdout(Stdio::piped());
    let mut loadgen = spawn(&mut cmd, log)?;
    let stdout = loadgen.child.stdout.take().context("loadgen stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let patience = Duration::from_secs_f64(planned_secs + 90.0);
    let mut next_line = async || -> anyhow::Result<String> {
        match tokio::time::timeout(patience, lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(_) => bail!(
                "the load generator ended without a report{}",
                loadgen_tail(log)
            ),
            Err(_) => bail!("the load generator did not report in time"),
        }
    };
    anyhow::ensure!(
        next_line().await? == "warm",
        "unexpected load generator output"
    );
    ctx.http
        .post(format!("http://127.0.0.1:{}/reset-window", ctx.sink_port))
        .send()
        .await?;
    let machine_at = machine_cpu();
    let redis_pids: Vec<u32> = redis_pid.into_iter().collect();
    let cpu_now = || {
        [
            cpu_of(sut_pids),
            cpu_of(&redis_pids),
            cpu_seconds(ctx.sink_pid),
        ]
    };
    let (at, cpu_at) = (Instant::now(), cpu_now());
    let report = next_line().await?;
    let secs = at.elapsed().as_secs_f64();
    let cpu_end = cpu_now();
    let [sut_cpu, redis_cpu, sink_cpu] = std::array::from_fn(|i| Some(cpu_end[i]? - cpu_at[i]?));
    let busy_cores = machine_cpu().zip(machine_at).map(|((b1, t1), (b0, t0))| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        (b1 - b0) / (t1 - t0).max(1.0) * cpus
    });
    let sink = sink_stats(ctx).await?;
    let load: LoadReport = serde_json::from_str(&report).context("the load generator's report")?;
    loadgen.stop().await;
    Ok(Window {
        secs,
        load,
        sink,
        sut_cpu,
        redis_cpu,
        sink_cpu,
        busy_cores,
    })
}

/// After the overload: waits for the backlog to reach the sink, checks every acknowledged seq
/// against what the sink saw, and watches the memory once idle.
async fn drain(
    ctx: &Ctx,
    window: &Window,
    gateway_port: Option<u16>,
    sut_pid: Option<u32>,
    acked_file: &Path,
    rss_series: &Arc<Mutex<Vec<(f64, u64)>>>,
    rss_end_of_load: Option<u64>,
) -> anyhow::Result<Overload> {
    let acked = window.load.total_acked_events;
    let check = wait_and_compare(ctx, acked, gateway_port, acked_file).await?;
    // Idle for a moment: does the memory taken under load come back?
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_idle = sut_pid.and_then(|pid| status_kib(pid, "VmRSS"));
    let series = rss_series.lock().unwrap().clone();
    Ok(Overload {
        rate_rps: window.load.offered_rps.unwrap_or(0.0),
        acked_events: acked,
        delivered_unique: check.unique,
        lost: check.lost,
        delivered_unacked: check.unacked,
        drained: check.drained && check.lost == 0,
        drain_secs: check.drain_secs,
        rss_before_kib: series.first().map(|&(_, k)| k),
        rss_end_of_load_kib: rss_end_of_load,
        rss_after_drain_kib: rss_idle,
        rss_series: series,
    })
}

/// What the sink had seen of the acknowledged events once the backlog drained.
struct LossCheck {
    drained: bool,
    /// From the end of the load to the last delivery.
    drain_secs: f64,
    unique: u64,
    /// Acknowledged, never delivered.
    lost: u64,
    /// Delivered, never acknowledged.
    unacked: u64,
}

/// Waits until the sink has seen `acked` events and the gateway's queue is empty (or nothing
/// arrives for 15 s), then compares the load generator's bitmap of acknowledged seqs in
/// `acked_file` with the sink's.
async fn wait_and_compare(
    ctx: &Ctx,
    acked: u64,
    gateway_port: Option<u16>,
    acked_file: &Path,
) -> anyhow::Result<LossCheck> {
    let started = Instant::now();
    let (mut unique, mut last_change) = (sink_stats(ctx).await?.total.unique, Instant::now());
    let drained = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = sink_stats(ctx).await?.total.unique;
        if now != unique {
            (unique, last_change) = (now, Instant::now());
        }
        let waiting = match gateway_port {
            Some(port) => gateway_metrics(ctx, port)
                .await
                .get("switchyard_queue_events")
                .copied(),
            None => Some(0.0),
        };
        if unique >= acked && waiting.is_none_or(|w| w == 0.0) {
            break true;
        }
        if last_change.elapsed() > Duration::from_secs(15) {
            break false; // nothing arrives any more
        }
        if started.elapsed().as_secs_f64() > ctx.timing.drain_timeout_secs {
            break false;
        }
    };
    let seen = ctx
        .http
        .get(format!("http://127.0.0.1:{}/seen", ctx.sink_port))
        .send()
        .await?
        .bytes()
        .await?;
    let acked_bits = std::fs::read(acked_file)?;
    let word = |bytes: &[u8], i: usize| {
        bytes
            .get(i * 8..i * 8 + 8)
            .map_or(0, |w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
    };
    let (mut lost, mut unacked) = (0u64, 0u64);
    for i in 0..acked_bits.len().max(seen.len()) / 8 {
        let (a, s) = (word(&acked_bits, i), word(&seen, i));
        lost += (a & !s).count_ones() as u64;
        unacked += (s & !a).count_ones() as u64;
    }
    Ok(LossCheck {
        drained,
        drain_secs: (last_change - started).as_secs_f64().max(0.0),
        unique,
        lost,
        unacked,
    })
}

async fn sink_stats(ctx: &Ctx) -> anyhow::Result<SinkStats> {
    let url = format!("http://127.0.0.1:{}/stats", ctx.sink_port);
    let body = ctx
        .http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    Ok(serde_json::from_slice(&body)?)
}

/// Sums of the `/metrics` families worth keeping, by outcome where they have one.
async fn gateway_metrics(ctx: &Ctx, port: u16) -> BTreeMap<String, f64> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let Ok(text) = async { ctx.http.get(url).send().await?.text().await }.await else {
        return BTreeMap::new();
    };
    let mut sums = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        if name == "switchyard_ingest_duration_seconds_bucket" {
            // The gateway's own answer times, bucket by bucket (cumulative).
            sums.insert(series.to_owned(), value);
            continue;
        }
        if !matches!(
            name,
            "switchyard_ingest_requests_total"
                | "switchyard_ingest_events_total"
                | "switchyard_queue_events"
                | "switchyard_queue_bytes"
                | "switchyard_events_delivered_total"
                | "switchyard_deliveries_total"
                | "switchyard_delivery_attempts_total"
                | "switchyard_delivery_retries_total"
                | "switchyard_dead_letters_total"
                | "switchyard_filter_failures_total"
        ) {
            continue;
        }
        let outcome = series
            .split_once("outcome=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(outcome, _)| outcome);
        let key = match outcome {
            Some(outcome) => format!("{name}{{outcome=\"{outcome}\"}}"),
            None => name.to_owned(),
        };
        *sums.entry(key).or_default() += value;
    }
    sums
}

/// The gateway's metrics, and what it logged at warn level and above.
async fn gateway_info(ctx: &Ctx, port: u16, log: &Path) -> GatewayInfo {
    let mut info = GatewayInfo {
        metrics: gateway_metrics(ctx, port).await,
        ..GatewayInfo::default()
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        match v["level"].as_str() {
            Some("WARN") => info.log_warnings += 1,
            Some("ERROR") => info.log_errors += 1,
            _ if !line.trim().is_empty() && v.is_null() => info.log_errors += 1, // not JSON: a panic?
            _ => continue,
        }
        let message = v["message"]
            .as_str()
            .or(v["fields"]["message"].as_str())
            .unwrap_or(line);
        if info.log_sample.len() < 5 && !info.log_sample.iter().any(|m| m == message) {
            info.log_sample.push(message.chars().take(200).collect());
        }
        if info.log_first_lines.len() < 5 {
            info.log_first_lines.push(line.chars().take(1000).collect());
        }
    }
    info
}

fn system_name(system: System) -> &'static str {
    match system {
        System::Direct => "direct",
        System::Forwarder => "forwarder",
        System::DurableRef { .. } => "durable-ref",
        System::Gateway(_) => "gateway",
    }
}

/// A child process, killed if dropped; `stop` asks it to end first.
pub(crate) struct Proc {
    child: Child,
    pub(crate) log: PathBuf,
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: a signal to our own child, whose pid we hold (not yet reaped).
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    fn log_tail(&self) -> String {
        loadgen_tail(&self.log)
    }
}

fn loadgen_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    match lines.len() {
        0 => String::new(),
        n => format!(
            "; {} says: {}",
            log.display(),
            lines[n.saturating_sub(5)..].join(" | ")
        ),
    }
}

/// Starts `cmd` with stderr to `log`.
pub(crate) fn spawn(cmd: &mut Command, log: &Path) -> anyhow::Result<Proc> {
    let child = cmd
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.as_std().get_program()))?;
    Ok(Proc {
        child,
        log: log.to_owned(),
    })
}

/// Polls `url` until anything answers (the process is listening), for up to 60 s.
pub(crate) async fn wait_ready(
    http: &reqwest::Client,
    url: &str,
    process: &Proc,
) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not answer within 60 s{}", process.log_tail())
}

/// Cores busy machine-wide over `period`.
async fn busy_cores_over(period: Duration) -> Option<f64> {
    let before = machine_cpu()?;
    tokio::time::sleep(period).await;
    let after = machine_cpu()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    Some((after.0 - before.0) / (after.1 - before.1).max(0.01) * cpus)
}

/// Machine-wide busy and total CPU time in clock ticks (the `cpu` line of `/proc/stat`).
fn machine_cpu() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|t| t.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let idle = ticks.get(3)? + ticks.get(4)?;
    let total: f64 = ticks.iter().sum();
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(((total - idle) / ticks_per_sec, total / ticks_per_sec))
}

/// A port free right now on 127.0.0.1 (the process that gets it binds it a moment later).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The workspace root and its target directory as cargo sees them (`CARGO_TARGET_DIR` and
/// `.cargo/config` included), so the runner finds what its own `cargo build` produced.
fn workspace() -> anyhow::Result<(PathBuf, PathBuf)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let output = std::process::Command::new(cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let path = |field: &str| {
        v[field]
            .as_str()
            .map(PathBuf::from)
            .with_context(|| format!("cargo metadata has no {field}"))
    };
    Ok((path("workspace_root")?, path("target_directory")?))
}

/// The commit measured, and whether the tree had changes.
fn git_describe(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "host",
        "guest-filters",
        "Cargo.lock",
    ])
    .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit} (host or filters modified)")
    } else {
        commit
    })
}
