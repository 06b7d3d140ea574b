//! `switchyard check`: everything `run` would refuse, printed at once.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, ConfigError, Finding};
use crate::filter::FilterRuntime;
use crate::gateway::compile_plans;
use crate::metrics::Metrics;

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
    let runtime = FilterRuntime::new(loaded.config.filters.clone())?;
    let compiled = super::small_runtime()?.block_on(compile_plans(
        &loaded.config,
        &runtime,
        &Metrics::default(),
    ));
    if let Err(problems) = compiled {
        return Ok(refuse(path, &problems));
    }
    let apps = &loaded.config.apps;
    let webhooks: usize = apps.iter().map(|a| a.webhooks.len()).sum();
    println!(
        "{}: ok ({} app(s), {webhooks} webhook(s))",
        path.display(),
        apps.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints every problem of the config at `path`; the exit code of a refused config.
fn refuse(path: &Path, problems: &[Finding]) -> ExitCode {
    println!("{}: {} problem(s)", path.display(), problems.len());
    problems.iter().for_each(|p| println!("  error: {p}"));
    ExitCode::FAILURE
}
