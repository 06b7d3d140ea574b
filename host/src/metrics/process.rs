//! The `process_*` metrics every Prometheus client library exports, read from `/proc/self`.

use super::exposition::Exposition;

pub(super) fn write(out: &mut Exposition) {
    let Some(stat) = Stat::read() else {
        return;
    };
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    let gauge = |out: &mut Exposition, name: &str, kind: &str, help: &str, value: f64| {
        out.family(name, kind, help);
        out.sample(name, &[], value);
    };
    gauge(
        out,
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, in seconds.",
        (stat.utime + stat.stime) / ticks,
    );
    gauge(
        out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size, in bytes.",
        stat.rss_pages * page,
    );
    gauge(
        out,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size, in bytes.",
        stat.vsize,
    );
    if let Some(boot) = boot_time() {
        gauge(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            boot + stat.start_ticks / ticks,
        );
    }
    gauge(
        out,
        "process_threads",
        "gauge",
        "Threads of the process.",
        stat.threads,
    );
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            out,
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = max_fds() {
        gauge(
            out,
            "process_max_fds",
            "gauge",
            "The most file descriptors the process may open.",
            max,
        );
    }
}

/// The fields of `/proc/self/stat` used here.
struct Stat {
    utime: f64,
    stime: f64,
    threads: f64,
    start_ticks: f64,
    vsize: f64,
    rss_pages: f64,
}

impl Stat {
    fn read() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) may hold spaces: fields are counted after its `)`.
        let rest = &text[text.rfind(')')? + 2..];
        let fields: Vec<f64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        // Field n of proc(5) is rest[n - 3].
        let field = |n: usize| fields.get(n - 3).copied();
        Some(Self {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_threads_and_descriptors() {
        let mut out = Exposition::default();
        write(&mut out);
        let text = out.into_text();
        let value = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing from\n{text}"));
            line.split(' ').nth(1).unwrap().parse().unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let started = value("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0);
    }
}
