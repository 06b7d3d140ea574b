//! Benchmark of fjall 3 vs redb 4 for Switchyard's durable job queue. See README.md.
//!
//! The parent process runs every phase of every store in a child process of this same binary
//! (hidden subcommands), so each measurement starts from a fresh process and the recovery phase
//! can SIGKILL a writer.

mod store;
mod workload;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use store::{Kind, LANES, SharedStore};
use workload::{Shared, Snapshot};

struct Opts {
    args: Vec<String>,
}

impl Opts {
    fn get(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.args.get(i + 1))
            .map(String::as_str)
    }
    fn flag(&self, name: &str) -> bool {
        self.args.iter().any(|a| a == name)
    }
    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => s.parse().map_err(|_| anyhow!("bad value for {name}: {s}")),
        }
    }
    fn kind(&self) -> Result<Kind> {
        Kind::parse(self.get("--store").context("--store")?)
    }
    fn dir(&self) -> Result<PathBuf> {
        Ok(PathBuf::from(self.get("--dir").context("--dir")?))
    }
}

const USAGE: &str = "\
queue-store-bench [--stores fjall,redb,redb-qr (also: fjall-nocursor)] [--phases ingest,churn,recovery,second]
                  [--ingest-secs 5] [--churn-secs 20] [--churn-backlog 50000]
                  [--backlog-jobs 2000000] [--kill-after-secs 3] [--dir DIR] [--json FILE]
                  [--no-perf]
Runs every phase for every store, each in a child process, and prints tables and ratios.";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sub = args.first().cloned().unwrap_or_default();
    let opts = Opts { args };
    match sub.as_str() {
        "phase-ingest" => child_ingest(&opts),
        "phase-churn" => child_churn(&opts),
        "child-writer" => child_writer(&opts),
        "recover" => child_recover(&opts),
        "hold" => child_hold(&opts),
        "probe" => child_probe(&opts),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => run(&opts),
    }
}

fn emit(v: Value) {
    println!("RESULT {v}");
    let _ = std::io::stdout().flush();
}

fn shared_store(kind: Kind, dir: &Path) -> Result<SharedStore> {
    Ok(Arc::new(store::open(kind, dir)?))
}

fn close_shared(sh: Arc<Shared>) -> Result<()> {
    let sh = Arc::try_unwrap(sh).map_err(|_| anyhow!("store still shared"))?;
    let st = Arc::try_unwrap(sh.store).map_err(|_| anyhow!("store still shared"))?;
    st.close()
}

fn backlog(sh: &Shared) -> i64 {
    sh.lane_pending.iter().map(|a| a.load(Relaxed)).sum()
}

fn rates(s0: &Snapshot, s1: &Snapshot) -> Value {
    let dt = s1
        .at
        .zip(s0.at)
        .map(|(a, b)| (a - b).as_secs_f64())
        .unwrap_or(1.0);
    let d = |a: u64, b: u64| (a - b) as f64 / dt;
    let groups = (s1.groups - s0.groups).max(1) as f64;
    json!({
        "secs": dt,
        "acked_requests_per_s": d(s1.append_reqs, s0.append_reqs),
        "jobs_appended_per_s": d(s1.appended, s0.appended),
        "jobs_deleted_per_s": d(s1.deleted, s0.deleted),
        "retry_updates_per_s": d(s1.updated, s0.updated),
        "groups_per_s": d(s1.groups, s0.groups),
        "durable_commits_per_s": d(s1.durable_commits, s0.durable_commits),
        "nondurable_commits": s1.nondurable_commits - s0.nondurable_commits,
        "durable_commits": s1.durable_commits - s0.durable_commits,
        "requests_per_group": ((s1.append_reqs - s0.append_reqs) as f64) / groups,
        "writer_busy_fraction": (s1.write_ns - s0.write_ns) as f64 / 1e9 / dt,
        "empty_read_fraction": (s1.empty_reads - s0.empty_reads) as f64
            / ((s1.reads - s0.reads).max(1)) as f64,
    })
}

fn hist_json(h: &hdrhistogram::Histogram<u64>) -> Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": h.max() as f64 / 1000.0,
    })
}

/// (allocated bytes as du counts them, apparent bytes) of a directory tree.
fn disk_usage(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut alloc = 0;
    let mut apparent = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(md) = std::fs::symlink_metadata(&d) else {
            continue;
        };
        if md.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else {
            alloc += md.blocks() * 512;
            apparent += md.len();
        }
    }
    (alloc, apparent)
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// child processes

fn child_ingest(o: &Opts) -> Result<()> {
    let kind = o.kind()?;
    let dir = o.dir()?;
    let secs: f64 = o.num("--secs", 5.0)?;
    let sh = Shared::new(shared_store(kind, &dir)?, kind.uses_cursor(), 0);
    let run = workload::start(sh.clone(), 1, true, true);
    let s0 = sh.counters.snapshot();
    thread::sleep(Duration::from_secs_f64(secs));
    let s1 = sh.counters.snapshot();
    let backlog_end = backlog(&sh);
    let (hist, _) = run.stop()?;
    close_shared(sh)?;
    let mut r = rates(&s0, &s1);
    r["ack_latency"] = hist_json(&hist);
    r["backlog_end"] = json!(backlog_end);
    emit(r);
    Ok(())
}

fn child_churn(o: &Opts) -> Result<()> {
    let kind = o.kind()?;
    let dir = o.dir()?;
    let secs: f64 = o.num("--secs", 20.0)?;
    let target: u64 = o.num("--backlog", 50_000)?;
    let floor = (target / LANES as u64) as i64;
    let sh = Shared::new(shared_store(kind, &dir)?, kind.uses_cursor(), floor);
    let t_load = Instant::now();
    let next = workload::bulk_load(&**sh.store, Some(&sh.lane_pending), 1, target, 5_000)?;
    let load_s = t_load.elapsed().as_secs_f64();
    let (du0, ap0) = disk_usage(&dir);
    let run = workload::start(sh.clone(), next, true, true);
    let s0 = sh.counters.snapshot();
    let t0 = Instant::now();
    let mut samples = vec![json!({"t": 0.0, "du_mb": mb(du0), "backlog": backlog(&sh)})];
    let mut du_max = du0;
    while t0.elapsed().as_secs_f64() < secs {
        thread::sleep(Duration::from_secs_f64(
            (secs - t0.elapsed().as_secs_f64()).clamp(0.0, 2.0),
        ));
        let (du, _) = disk_usage(&dir);
        du_max = du_max.max(du);
        samples.push(
            json!({"t": t0.elapsed().as_secs_f64(), "du_mb": mb(du), "backlog": backlog(&sh)}),
        );
    }
    let s1 = sh.counters.snapshot();
    let backlog_end = backlog(&sh);
    let (hist, _) = run.stop()?;
    let (du1, ap1) = disk_usage(&dir);
    let t_close = Instant::now();
    close_shared(sh)?;
    let close_ms = t_close.elapsed().as_secs_f64() * 1e3;
    let (du_closed, _) = disk_usage(&dir);
    let t_open = Instant::now();
    let st = store::open(kind, &dir)?;
    let reopen_ms = t_open.elapsed().as_secs_f64() * 1e3;
    let (du2, ap2) = disk_usage(&dir);
    let t_heads = Instant::now();
    for lane in 0..LANES {
        st.lane_head(lane)?;
    }
    let heads_ms = t_heads.elapsed().as_secs_f64() * 1e3;
    let t_scan = Instant::now();
    let (jobs, bytes, _) = st.scan_pending()?;
    let scan_ms = t_scan.elapsed().as_secs_f64() * 1e3;
    // Background work (fjall: journal GC, compaction) gets a few idle seconds.
    thread::sleep(Duration::from_secs(5));
    let (du_idle, _) = disk_usage(&dir);
    st.close()?;
    let (du_final, _) = disk_usage(&dir);
    let mut r = rates(&s0, &s1);
    r["ack_latency"] = hist_json(&hist);
    r["prefill_jobs"] = json!(target);
    r["prefill_s"] = json!(load_s);
    r["backlog_end"] = json!(backlog_end);
    r["du_start_mb"] = json!(mb(du0));
    r["apparent_start_mb"] = json!(mb(ap0));
    r["du_end_mb"] = json!(mb(du1));
    r["apparent_end_mb"] = json!(mb(ap1));
    r["du_max_mb"] = json!(mb(du_max));
    r["du_after_close_mb"] = json!(mb(du_closed));
    r["du_after_reopen_mb"] = json!(mb(du2));
    r["apparent_after_reopen_mb"] = json!(mb(ap2));
    r["du_after_reopen_idle5s_mb"] = json!(mb(du_idle));
    r["du_after_final_close_mb"] = json!(mb(du_final));
    r["pending_jobs_after_reopen"] = json!(jobs);
    r["pending_bytes_after_reopen_mb"] = json!(mb(bytes));
    r["clean_close_ms"] = json!(close_ms);
    r["reopen_ms"] = json!(reopen_ms);
    r["reopen_heads_ms"] = json!(heads_ms);
    r["reopen_scan_ms"] = json!(scan_ms);
    r["samples"] = Value::Array(samples);
    emit(r);
    Ok(())
}

/// Bulk-loads the backlog, prints LOADED, then runs the live workload (appends + deletes at a
/// steady backlog) printing the highest durably acked sequence every 100 ms until it is killed
/// (or 120 s pass).
fn child_writer(o: &Opts) -> Result<()> {
    let kind = o.kind()?;
    let dir = o.dir()?;
    let jobs: u64 = o.num("--backlog", 2_000_000)?;
    // Workers keep each lane at its share of the backlog, so the backlog stays ~`jobs` while
    // the heads churn (deletes, retries) and the tails grow, as with a stalled destination.
    let floor = (jobs / LANES as u64) as i64;
    let sh = Shared::new(shared_store(kind, &dir)?, kind.uses_cursor(), floor);
    let t = Instant::now();
    let next = workload::bulk_load(&**sh.store, Some(&sh.lane_pending), 1, jobs, 10_000)?;
    println!("LOADED {:.3}", t.elapsed().as_secs_f64());
    let _ = std::io::stdout().flush();
    let _run = workload::start(sh.clone(), next, true, true);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(120) {
        thread::sleep(Duration::from_millis(100));
        let c = &sh.counters;
        println!(
            "ACKED {} appended={} deleted={} groups={}",
            c.durable_seq.load(Relaxed),
            c.appended.load(Relaxed),
            c.deleted.load(Relaxed),
            c.groups.load(Relaxed)
        );
        let _ = std::io::stdout().flush();
    }
    bail!("child-writer was not killed within 120 s")
}

/// What the gateway does at start: open, find each lane's head, count pending jobs and bytes.
fn child_recover(o: &Opts) -> Result<()> {
    let kind = o.kind()?;
    let dir = o.dir()?;
    let t0 = Instant::now();
    let st = store::open(kind, &dir)?;
    let open_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let mut heads = 0;
    for lane in 0..LANES {
        if st.lane_head(lane)?.is_some() {
            heads += 1;
        }
    }
    let heads_ms = t1.elapsed().as_secs_f64() * 1e3;
    let t2 = Instant::now();
    let (jobs, bytes, max_seq) = st.scan_pending()?;
    let scan_ms = t2.elapsed().as_secs_f64() * 1e3;
    let total_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t3 = Instant::now();
    st.close()?;
    let close_ms = t3.elapsed().as_secs_f64() * 1e3;
    emit(json!({
        "open_ms": open_ms,
        "heads_ms": heads_ms,
        "scan_ms": scan_ms,
        "total_ms": total_ms,
        "close_ms": close_ms,
        "lanes_with_head": heads,
        "jobs": jobs,
        "bytes": bytes,
        "max_seq": max_seq,
    }));
    Ok(())
}

/// Holds the store open (as the gateway would) until a line arrives on stdin.
fn child_hold(o: &Opts) -> Result<()> {
    let kind = o.kind()?;
    let dir = o.dir()?;
    let st = store::open(kind, &dir)?;
    workload::bulk_load(&*st, None, 1, 1_000, 1_000)?;
    println!("READY");
    let _ = std::io::stdout().flush();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut l = String::new();
        let _ = std::io::stdin().read_line(&mut l);
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(60));
    st.close()?;
    println!("CLOSED");
    Ok(())
}

fn child_probe(o: &Opts) -> Result<()> {
    let kind = o.kind()?;
    let dir = o.dir()?;
    let ro = o.flag("--ro");
    let t = Instant::now();
    let r = store::probe_open(kind, &dir, ro);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    emit(match r {
        Ok(msg) => json!({"ok": true, "message": msg, "ms": ms}),
        Err(e) => {
            json!({"ok": false, "message": format!("{e:#}"), "debug": format!("{e:?}").lines().next().unwrap_or("").to_string(), "ms": ms})
        }
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// parent

struct Ctx {
    exe: PathBuf,
    base: PathBuf,
    perf: bool,
}

impl Ctx {
    fn fresh_dir(&self, name: &str) -> Result<PathBuf> {
        let d = self.base.join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }

    /// Runs a child subcommand to completion and returns its RESULT json, optionally counting
    /// fsync/fdatasync syscalls of the whole child with `perf stat`.
    fn child_result(&self, args: &[&str], perf: bool, timeout: Duration) -> Result<Value> {
        let perf_out = self.base.join("perf.txt");
        let mut cmd = if perf && self.perf {
            let mut c = Command::new("perf");
            c.args(["stat", "-x", ",", "-o"])
                .arg(&perf_out)
                .args([
                    "-e",
                    "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync",
                    "--",
                ])
                .arg(&self.exe);
            c
        } else {
            Command::new(&self.exe)
        };
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().context("spawn child")?;
        let (lines, status) = collect_child(child, timeout)?;
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix("RESULT "))
            .ok_or_else(|| anyhow!("child {args:?} gave no result ({status}): {lines:?}"))?;
        let mut v: Value = serde_json::from_str(line)?;
        if perf && self.perf {
            let text = std::fs::read_to_string(&perf_out).unwrap_or_default();
            let mut total = 0u64;
            for l in text.lines() {
                let f: Vec<&str> = l.split(',').collect();
                if f.len() > 2 && f[2].starts_with("syscalls:") {
                    let n: u64 = f[0].parse().unwrap_or(0);
                    v[format!("proc_{}", f[2].trim_start_matches("syscalls:sys_enter_"))] =
                        json!(n);
                    total += n;
                }
            }
            v["proc_fsync_family"] = json!(total);
        }
        Ok(v)
    }
}

fn collect_child(mut child: Child, timeout: Duration) -> Result<(Vec<String>, String)> {
    let out = child.stdout.take().context("stdout")?;
    let reader = thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s.to_string();
        }
        if t.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break "timed out, killed".to_string();
        }
        thread::sleep(Duration::from_millis(20));
    };
    let lines = reader.join().unwrap_or_default();
    Ok((lines, status))
}

fn phase_recovery(ctx: &Ctx, kind: Kind, jobs: u64, kill_after: f64) -> Result<Value> {
    let dir = ctx.fresh_dir(&format!("recovery-{}", kind.name()))?;
    let ds = dir.to_string_lossy().to_string();
    let mut child = Command::new(&ctx.exe)
        .args([
            "child-writer",
            "--store",
            kind.name(),
            "--dir",
            &ds,
            "--backlog",
        ])
        .arg(jobs.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let out = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let t = Instant::now();
    let load_s: f64 = loop {
        let l = rx
            .recv_timeout(Duration::from_secs(600).saturating_sub(t.elapsed()))
            .map_err(|_| {
                let _ = child.kill();
                anyhow!("child-writer did not finish loading")
            })?;
        if let Some(s) = l.strip_prefix("LOADED ") {
            break s.trim().parse()?;
        }
    };
    let (du_loaded, _) = disk_usage(&dir);
    let mut last_acked = 0u64;
    let mut last_line = String::new();
    // (time, appended, deleted, groups) of the first and the latest progress line
    let mut first: Option<(Instant, [u64; 3])> = None;
    let mut latest: Option<(Instant, [u64; 3])> = None;
    let live = Instant::now();
    while live.elapsed().as_secs_f64() < kill_after {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(50))
            && let Some(rest) = l.strip_prefix("ACKED ")
        {
            last_acked = rest.split(' ').next().unwrap_or("0").parse().unwrap_or(0);
            last_line = l.clone();
            let mut c = [0u64; 3];
            for (i, name) in ["appended=", "deleted=", "groups="].iter().enumerate() {
                c[i] = rest
                    .split(' ')
                    .find_map(|f| f.strip_prefix(name))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            if first.is_none() {
                first = Some((Instant::now(), c));
            }
            latest = Some((Instant::now(), c));
        }
    }
    let live_rates = match (first, latest) {
        (Some((t0, a)), Some((t1, b))) if t1 > t0 => {
            let dt = (t1 - t0).as_secs_f64();
            json!({
                "secs": dt,
                "jobs_appended_per_s": (b[0] - a[0]) as f64 / dt,
                "jobs_deleted_per_s": (b[1] - a[1]) as f64 / dt,
                "groups_per_s": (b[2] - a[2]) as f64 / dt,
            })
        }
        _ => Value::Null,
    };
    // SIGKILL while the writer is committing groups.
    child.kill()?;
    let status = child.wait()?;
    let _ = reader.join();
    for l in rx.try_iter() {
        if let Some(rest) = l.strip_prefix("ACKED ") {
            last_acked = rest.split(' ').next().unwrap_or("0").parse().unwrap_or(0);
            last_line = l.clone();
        }
    }
    let (du_killed, _) = disk_usage(&dir);
    let crash = ctx.child_result(
        &["recover", "--store", kind.name(), "--dir", &ds],
        false,
        Duration::from_secs(600),
    )?;
    let (du_after_recover, _) = disk_usage(&dir);
    let clean = ctx.child_result(
        &["recover", "--store", kind.name(), "--dir", &ds],
        false,
        Duration::from_secs(600),
    )?;
    let max_seq = crash["max_seq"].as_u64().unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "backlog_jobs_loaded": jobs,
        "bulk_load_s": load_s,
        "du_after_load_mb": mb(du_loaded),
        "du_after_kill_mb": mb(du_killed),
        "du_after_recovery_mb": mb(du_after_recover),
        "kill_status": status.to_string(),
        "last_progress_before_kill": last_line,
        "last_acked_seq_before_kill": last_acked,
        "acked_jobs_survived": max_seq >= last_acked,
        "live_at_backlog": live_rates,
        "after_kill": crash,
        "after_clean_close": clean,
    }))
}

fn phase_second(ctx: &Ctx, kind: Kind) -> Result<Value> {
    let dir = ctx.fresh_dir(&format!("second-{}", kind.name()))?;
    let ds = dir.to_string_lossy().to_string();
    let mut hold = Command::new(&ctx.exe)
        .args(["hold", "--store", kind.name(), "--dir", &ds])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut hold_out = BufReader::new(hold.stdout.take().context("stdout")?);
    let mut l = String::new();
    hold_out.read_line(&mut l)?;
    if l.trim() != "READY" {
        bail!("hold child said {l:?}");
    }
    let probe = |ro: bool| -> Result<Value> {
        let mut args = vec!["probe", "--store", kind.name(), "--dir", &ds];
        if ro {
            args.push("--ro");
        }
        match ctx.child_result(&args, false, Duration::from_secs(10)) {
            Ok(v) => Ok(v),
            Err(e) => Ok(
                json!({"ok": false, "message": format!("no result within 10 s (blocked?): {e:#}")}),
            ),
        }
    };
    let while_open_rw = probe(false)?;
    let while_open_ro = if matches!(
        kind,
        Kind::Fjall | Kind::FjallSmallJournal | Kind::FjallNoCursor
    ) {
        json!({"ok": null, "message": "fjall 3 has no read-only open"})
    } else {
        probe(true)?
    };
    let stdin = hold.stdin.as_mut().context("stdin")?;
    writeln!(stdin)?;
    stdin.flush()?;
    let mut closed = String::new();
    hold_out.read_line(&mut closed)?;
    let _ = hold.wait()?;
    let after_close_rw = probe(false)?;
    let after_close_ro = if matches!(
        kind,
        Kind::Fjall | Kind::FjallSmallJournal | Kind::FjallNoCursor
    ) {
        json!({"ok": null, "message": "fjall 3 has no read-only open"})
    } else {
        probe(true)?
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "while_first_open_rw": while_open_rw,
        "while_first_open_ro": while_open_ro,
        "after_first_closed_rw": after_close_rw,
        "after_first_closed_ro": after_close_ro,
    }))
}

fn run(o: &Opts) -> Result<()> {
    let stores: Vec<Kind> = o
        .get("--stores")
        .unwrap_or("fjall,redb,redb-qr")
        .split(',')
        .map(Kind::parse)
        .collect::<Result<_>>()?;
    let phases: Vec<String> = o
        .get("--phases")
        .unwrap_or("ingest,churn,recovery,second")
        .split(',')
        .map(str::to_string)
        .collect();
    let ingest_secs: f64 = o.num("--ingest-secs", 5.0)?;
    let churn_secs: f64 = o.num("--churn-secs", 20.0)?;
    let churn_backlog: u64 = o.num("--churn-backlog", 50_000)?;
    let backlog_jobs: u64 = o.num("--backlog-jobs", 2_000_000)?;
    let kill_after: f64 = o.num("--kill-after-secs", 3.0)?;
    let exe = std::env::current_exe()?;
    let base_tmp;
    let base = match o.get("--dir") {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            PathBuf::from(d)
        }
        None => {
            base_tmp = tempfile::Builder::new()
                .prefix("queue-store-bench-")
                .tempdir()?;
            base_tmp.path().to_path_buf()
        }
    };
    let json_path = match o.get("--json") {
        Some(p) => PathBuf::from(p),
        None => exe
            .parent()
            .map(|p| p.join("queue-store-results.json"))
            .unwrap_or_else(|| PathBuf::from("queue-store-results.json")),
    };
    let perf = !o.flag("--no-perf")
        && Command::new("perf")
            .args([
                "stat",
                "-x",
                ",",
                "-e",
                "syscalls:sys_enter_fdatasync",
                "--",
                "true",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    let ctx = Ctx { exe, base, perf };
    eprintln!(
        "queue-store-bench: fjall {} (lsm-tree {}), redb {}; data in {}; perf syscall counts: {}",
        env!("QB_FJALL_VERSION"),
        env!("QB_LSM_TREE_VERSION"),
        env!("QB_REDB_VERSION"),
        ctx.base.display(),
        ctx.perf
    );

    let mut results = serde_json::Map::new();
    for k in &stores {
        results.insert(k.name().to_string(), json!({}));
    }
    for phase in &phases {
        for &k in &stores {
            let t = Instant::now();
            eprintln!("[{}] {phase} ...", k.name());
            let v = match phase.as_str() {
                "ingest" => {
                    let dir = ctx.fresh_dir(&format!("ingest-{}", k.name()))?;
                    let secs = ingest_secs.to_string();
                    let ds = dir.to_string_lossy().to_string();
                    let v = ctx.child_result(
                        &[
                            "phase-ingest",
                            "--store",
                            k.name(),
                            "--dir",
                            &ds,
                            "--secs",
                            &secs,
                        ],
                        true,
                        Duration::from_secs_f64(ingest_secs + 120.0),
                    )?;
                    let _ = std::fs::remove_dir_all(&dir);
                    v
                }
                "churn" => {
                    let dir = ctx.fresh_dir(&format!("churn-{}", k.name()))?;
                    let ds = dir.to_string_lossy().to_string();
                    let secs = churn_secs.to_string();
                    let bl = churn_backlog.to_string();
                    let v = ctx.child_result(
                        &[
                            "phase-churn",
                            "--store",
                            k.name(),
                            "--dir",
                            &ds,
                            "--secs",
                            &secs,
                            "--backlog",
                            &bl,
                        ],
                        true,
                        Duration::from_secs_f64(churn_secs + 180.0),
                    )?;
                    let _ = std::fs::remove_dir_all(&dir);
                    v
                }
                "recovery" => phase_recovery(&ctx, k, backlog_jobs, kill_after)?,
                "second" => phase_second(&ctx, k)?,
                other => bail!("unknown phase {other}"),
            };
            eprintln!(
                "[{}] {phase} done in {:.1} s",
                k.name(),
                t.elapsed().as_secs_f64()
            );
            results[k.name()][phase.as_str()] = v;
        }
    }
    let doc = json!({
        "versions": {
            "fjall": env!("QB_FJALL_VERSION"),
            "lsm-tree": env!("QB_LSM_TREE_VERSION"),
            "redb": env!("QB_REDB_VERSION"),
        },
        "params": {
            "producers": workload::PRODUCERS,
            "lanes": LANES,
            "read_batch": workload::READ_BATCH,
            "retry_probability": workload::RETRY_PROBABILITY,
            "ingest_secs": ingest_secs,
            "churn_secs": churn_secs,
            "churn_backlog": churn_backlog,
            "backlog_jobs": backlog_jobs,
            "kill_after_secs": kill_after,
            "cache_bytes": store::CACHE_BYTES,
            "perf_syscall_counts": ctx.perf,
        },
        "results": Value::Object(results),
    });
    print_tables(&doc, &stores);
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)?)?;
    println!("\nJSON written to {}", json_path.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// report

fn print_tables(doc: &Value, stores: &[Kind]) {
    let res = &doc["results"];
    let rows: &[(&str, &str, &str)] = &[
        ("ingest", "/acked_requests_per_s", "acked requests/s"),
        ("ingest", "/jobs_appended_per_s", "jobs appended/s"),
        ("ingest", "/jobs_deleted_per_s", "jobs deleted/s"),
        ("ingest", "/retry_updates_per_s", "retry updates/s"),
        ("ingest", "/groups_per_s", "groups/s"),
        ("ingest", "/requests_per_group", "append requests/group"),
        (
            "ingest",
            "/durable_commits_per_s",
            "writer durable commits/s",
        ),
        ("ingest", "/proc_fdatasync", "fdatasync calls (process)"),
        ("ingest", "/proc_fsync", "fsync calls (process)"),
        ("ingest", "/durable_commits", "writer durable commits"),
        ("ingest", "/ack_latency/p50_ms", "ack p50 ms"),
        ("ingest", "/ack_latency/p99_ms", "ack p99 ms"),
        ("ingest", "/ack_latency/p999_ms", "ack p99.9 ms"),
        ("ingest", "/backlog_end", "backlog at end (jobs)"),
        ("ingest", "/writer_busy_fraction", "writer busy fraction"),
        ("churn", "/jobs_appended_per_s", "appended/s"),
        ("churn", "/jobs_deleted_per_s", "deleted/s"),
        ("churn", "/acked_requests_per_s", "acked requests/s"),
        ("churn", "/ack_latency/p99_ms", "ack p99 ms"),
        ("churn", "/backlog_end", "backlog at end (jobs)"),
        ("churn", "/du_start_mb", "du start MB"),
        ("churn", "/du_max_mb", "du max MB"),
        ("churn", "/du_end_mb", "du end MB"),
        ("churn", "/du_after_close_mb", "du after clean close MB"),
        ("churn", "/du_after_reopen_mb", "du after reopen MB"),
        (
            "churn",
            "/du_after_reopen_idle5s_mb",
            "du reopen + 5 s idle MB",
        ),
        (
            "churn",
            "/du_after_final_close_mb",
            "du after final close MB",
        ),
        ("churn", "/pending_bytes_after_reopen_mb", "live data MB"),
        ("churn", "/proc_fsync_family", "fsync+fdatasync (process)"),
        ("churn", "/clean_close_ms", "clean close ms"),
        ("churn", "/reopen_ms", "reopen ms"),
        ("churn", "/reopen_heads_ms", "reopen: 32 lane heads ms"),
        ("churn", "/reopen_scan_ms", "reopen: count pending ms"),
        ("recovery", "/after_kill/jobs", "backlog jobs at restart"),
        ("recovery", "/after_kill/bytes", "backlog bytes at restart"),
        ("recovery", "/bulk_load_s", "bulk load s"),
        (
            "recovery",
            "/live_at_backlog/jobs_appended_per_s",
            "live at backlog: appended/s",
        ),
        (
            "recovery",
            "/live_at_backlog/jobs_deleted_per_s",
            "live at backlog: deleted/s",
        ),
        (
            "recovery",
            "/live_at_backlog/groups_per_s",
            "live at backlog: groups/s",
        ),
        ("recovery", "/du_after_kill_mb", "du after kill MB"),
        ("recovery", "/after_kill/open_ms", "kill -9: open ms"),
        (
            "recovery",
            "/after_kill/heads_ms",
            "kill -9: 32 lane heads ms",
        ),
        (
            "recovery",
            "/after_kill/scan_ms",
            "kill -9: count pending ms",
        ),
        ("recovery", "/after_kill/total_ms", "kill -9: total ms"),
        ("recovery", "/after_clean_close/open_ms", "clean: open ms"),
        (
            "recovery",
            "/after_clean_close/heads_ms",
            "clean: 32 lane heads ms",
        ),
        (
            "recovery",
            "/after_clean_close/scan_ms",
            "clean: count pending ms",
        ),
        ("recovery", "/after_clean_close/total_ms", "clean: total ms"),
        (
            "recovery",
            "/acked_jobs_survived",
            "acked jobs survived kill",
        ),
    ];
    let has_fjall = stores.contains(&Kind::Fjall);
    let has_redb = stores.contains(&Kind::Redb);
    let mut current = "";
    for (phase, ptr, label) in rows {
        if !stores.iter().any(|k| {
            !res[k.name()][*phase]
                .pointer(ptr)
                .unwrap_or(&Value::Null)
                .is_null()
        }) {
            continue;
        }
        if *phase != current {
            current = phase;
            print!("\n== {phase} ==\n{:<30}", "figure");
            for k in stores {
                print!("{:>16}", k.name());
            }
            if has_fjall && has_redb {
                print!("{:>13}", "fjall/redb");
            }
            println!();
        }
        print!("{label:<30}");
        let mut vals = std::collections::HashMap::new();
        for k in stores {
            let v = res[k.name()][*phase]
                .pointer(ptr)
                .cloned()
                .unwrap_or(Value::Null);
            let s = match &v {
                Value::Number(n) => {
                    let f = n.as_f64().unwrap_or(0.0);
                    vals.insert(k.name(), f);
                    if f.abs() >= 100.0 || f.fract() == 0.0 {
                        format!("{f:.0}")
                    } else {
                        format!("{f:.2}")
                    }
                }
                Value::Bool(b) => b.to_string(),
                Value::Null => "-".into(),
                other => other.to_string(),
            };
            print!("{s:>16}");
        }
        if has_fjall && has_redb {
            match (vals.get("fjall"), vals.get("redb")) {
                (Some(a), Some(b)) if *b != 0.0 => print!("{:>13.2}", a / b),
                _ => print!("{:>13}", "-"),
            }
        }
        println!();
    }
    if stores.iter().any(|k| !res[k.name()]["second"].is_null()) {
        println!("\n== second process ==");
        for k in stores {
            let s = &res[k.name()]["second"];
            if s.is_null() {
                continue;
            }
            for case in [
                "while_first_open_rw",
                "while_first_open_ro",
                "after_first_closed_rw",
                "after_first_closed_ro",
            ] {
                let c = &s[case];
                println!(
                    "{:<8} {:<22} ok={:<5} {:>8} {}",
                    k.name(),
                    case,
                    c["ok"],
                    c["ms"]
                        .as_f64()
                        .map(|m| format!("{m:.1}ms"))
                        .unwrap_or_default(),
                    c["message"].as_str().unwrap_or("")
                );
            }
        }
    }
}
