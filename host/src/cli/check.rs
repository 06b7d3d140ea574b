//! `switchyard check`: everything `run` would refuse, printed at once.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, ConfigError, Finding};
use crate::filter::{FilterError, FilterRuntime, FilterSettings, LoadedFilter, ModuleOrigin};
use crate::gateway::compile_plans;
use crate::metrics::Metrics;
use crate::route::AppPlan;

pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(ConfigError::Invalid { path, problems }) => return Ok(refuse(&path, &problems)),
        Err(e) => {
            println!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    loaded
        .warnings
        .iter()
        .for_each(|w| println!("  warning: {w}"));
    let runtime = match FilterRuntime::new(loaded.config.filters.clone()) {
        // Checking needs no cache: one this user cannot write (the gateway's) only costs time.
        Err(error @ FilterError::CacheDir { .. }) => {
            println!("  warning: {error}; compiling without it");
            let settings = FilterSettings {
                cache_dir: None,
                ..loaded.config.filters.clone()
            };
            FilterRuntime::new(settings)?
        }
        runtime => runtime?,
    };
    let compiled = super::small_runtime()?.block_on(compile_plans(
        &loaded.config,
        &runtime,
        &Metrics::default(),
    ));
    let plans = match compiled {
        Ok(plans) => plans,
        Err(problems) => return Ok(refuse(path, &problems)),
    };
    report_filters(&plans);
    let apps = &loaded.config.apps;
    let webhooks: usize = apps.iter().map(|a| a.webhooks.len()).sum();
    println!(
        "{}: ok ({} app(s), {webhooks} webhook(s))",
        path.display(),
        apps.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// One line per filter: where its module came from and how long that took (a JS filter's
/// first compile takes seconds: the cache makes the next start fast), and its instance's
/// memory against its cap.
fn report_filters(plans: &[AppPlan]) {
    let mut seen: Vec<&Arc<LoadedFilter>> = Vec::new();
    let chains = plans.iter().flat_map(|p| &p.webhooks).map(|w| &w.chain);
    for filter in chains.flat_map(|chain| chain.filters()) {
        // An app's filters are in each of its webhooks' chains.
        if seen.iter().any(|s| Arc::ptr_eq(s, filter)) {
            continue;
        }
        seen.push(filter);
        let times = filter.load_times();
        let module = match filter.origin() {
            ModuleOrigin::Compiled => format!("compiled in {}", seconds(times.module)),
            ModuleOrigin::DiskCache => format!("read from the cache in {}", seconds(times.module)),
            ModuleOrigin::Memory => "compiled already (another filter uses the module)".to_owned(),
        };
        println!(
            "  filter `{}`: {module}; started in {}; instance memory {:.1} of {} MiB ({})",
            filter.name(),
            seconds(times.total.saturating_sub(times.module)),
            mib(filter.memory_peak()),
            filter.memory_limit() >> 20,
            filter.module().display(),
        );
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.3} s", duration.as_secs_f64())
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Prints every problem of the config at `path`; the exit code of a refused config.
fn refuse(path: &Path, problems: &[Finding]) -> ExitCode {
    println!("{}: {} problem(s)", path.display(), problems.len());
    problems.iter().for_each(|p| println!("  error: {p}"));
    ExitCode::FAILURE
}
