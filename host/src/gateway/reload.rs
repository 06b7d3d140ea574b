//! Hot reload: build a whole new snapshot off the hot path, swap it in one step, or change
//! nothing and say why.
//!
//! Triggers: a file change seen by the watcher (after a short debounce and a content-hash
//! comparison), SIGHUP, and `POST /admin/reload`. Reloads run one at a time. Requests already
//! holding the old snapshot finish on it; the old snapshot (its filter instances) is freed
//! when the last of them is done. Then the lanes follow: a webhook's lanes send with its new
//! settings, added webhooks get lanes, removed ones have their waiting jobs dead-lettered.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use super::{Gateway, RELOADS_KEPT, Snapshot, compile_plans, register_webhooks};
use crate::clock::now_ms;
use crate::config::{self, ConfigError, Finding, LoadedConfig};
use crate::metrics::inc;
use crate::queue::{Paused, QueueError, QueueId, WebhookKey};
use crate::route::AppPlan;

/// Quiet time after a file event before checking: editors write in several steps.
const DEBOUNCE: Duration = Duration::from_millis(40);

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadTrigger {
    FileChange,
    Signal,
    Admin,
}

/// The result of one reload, as `/status` shows it (with `ok`, true when there is no error).
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    pub trigger: ReloadTrigger,
    /// Milliseconds since the Unix epoch when the reload finished.
    pub at_ms: u64,
    /// Why the reload changed nothing (file, field path or filter name, and the reason).
    pub error: Option<String>,
    pub duration_ms: f64,
}

impl ReloadOutcome {
    /// Whether the new config is running.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

impl Serialize for ReloadOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("ReloadOutcome", 5)?;
        out.serialize_field("trigger", &self.trigger)?;
        out.serialize_field("at_ms", &self.at_ms)?;
        out.serialize_field("ok", &self.ok())?;
        out.serialize_field("error", &self.error)?;
        out.serialize_field("duration_ms", &self.duration_ms)?;
        out.end()
    }
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("config {path} has {} filter problem(s):\n{}", .problems.len(), Finding::bullets(.problems))]
    Filters {
        path: PathBuf,
        problems: Vec<Finding>,
    },
    #[error("the reload task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// Reload bookkeeping, guarded by the reload lock (one reload at a time).
#[derive(Debug, Default)]
pub(crate) struct ReloadState {
    /// What the running config and filters were loaded from.
    loaded: Option<Contents>,
    /// What the files held when a change was last refused: the same files are not tried
    /// again (a log file written beside the config, say, must not retry a broken one).
    refused: Option<Contents>,
}

/// Files and what they held: the SHA-256 (hex) of each one's bytes, or `None` when it could
/// not be read.
type Contents = BTreeMap<PathBuf, Option<String>>;

/// The files a config depends on: itself and its filter modules.
fn watched_files(config_path: &Path, loaded: &LoadedConfig) -> Vec<PathBuf> {
    let mut files = vec![config_path.to_owned()];
    for app in &loaded.config.apps {
        let specs = app
            .filters
            .iter()
            .chain(app.webhooks.iter().flat_map(|w| &w.filters));
        files.extend(specs.map(|s| s.module.clone()));
    }
    files.sort();
    files.dedup();
    files
}

/// The hashes of the bytes a successful load actually read: the config's, and each filter
/// module's. A file written while it was being loaded then differs from this, and is reloaded.
fn loaded_contents(config_path: &Path, loaded: &LoadedConfig, plans: &[AppPlan]) -> Contents {
    let mut contents = Contents::new();
    contents.insert(
        config_path.to_owned(),
        Some(loaded.source.content_hash.clone()),
    );
    let filters = plans
        .iter()
        .flat_map(|p| &p.webhooks)
        .flat_map(|w| w.chain.filters());
    for filter in filters {
        let hash = filter.module_hash().to_string();
        contents.insert(filter.module().to_owned(), Some(hash));
    }
    contents
}

/// What `files` hold now.
fn current_contents(files: &[PathBuf]) -> Contents {
    files
        .iter()
        .map(|file| {
            let hash = std::fs::read(file)
                .ok()
                .map(|b| hex::encode(Sha256::digest(b)));
            (file.clone(), hash)
        })
        .collect()
}

impl Gateway {
    /// Reloads the config file and its filters; swaps the new snapshot in only if all of it
    /// is valid. Returns the outcome (also kept for `/status`, logged and counted).
    pub async fn reload(self: &Arc<Self>, trigger: ReloadTrigger) -> ReloadOutcome {
        let mut state = self.reload_state.lock().await;
        let started = Instant::now();
        let built = self.build_plans().await;
        let registered = match built {
            Ok((loaded, plans)) => self
                .registered_with_pauses(&plans)
                .await
                .map(|(queues, pauses)| (loaded, plans, queues, pauses)),
            Err(e) => Err(e),
        };
        let error = match registered {
            Ok((loaded, plans, queues, pauses)) => {
                let files = watched_files(&self.config_path, &loaded);
                state.loaded = Some(loaded_contents(&self.config_path, &loaded, &plans));
                self.warn_about_restart_only_settings(&loaded);
                let snapshot = Snapshot::new(plans, loaded.source, &queues);
                let destinations = snapshot.destinations();
                self.snapshot.store(Arc::new(snapshot));
                self.workers.reconcile(destinations, &pauses);
                self.watched.send_replace(files);
                state.refused = None;
                None
            }
            Err(e) => Some(e.to_string()),
        };
        let outcome = ReloadOutcome {
            trigger,
            at_ms: now_ms(),
            error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        match &outcome.error {
            None => {
                inc(&self.metrics.reloads_succeeded);
                tracing::info!(?trigger, duration_ms = outcome.duration_ms, "reloaded");
            }
            Some(error) => {
                inc(&self.metrics.reloads_failed);
                tracing::error!(?trigger, %error, "reload refused; the previous config keeps serving");
            }
        }
        let mut recent = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RELOADS_KEPT {
            recent.pop_front();
        }
        recent.push_back(outcome.clone());
        outcome
    }

    /// Each webhook's number in the queue (registering new ones) and the paused webhooks.
    async fn registered_with_pauses(
        &self,
        plans: &[AppPlan],
    ) -> Result<(HashMap<WebhookKey, QueueId>, HashMap<QueueId, Paused>), ReloadError> {
        let queues = register_webhooks(&self.queue, plans).await?;
        let pauses = (self.queue.pauses().await).map_err(|e| QueueError::from(Arc::new(e)))?;
        Ok((queues, pauses))
    }

    /// Reads, validates and compiles everything a new snapshot needs.
    async fn build_plans(&self) -> Result<(LoadedConfig, Vec<AppPlan>), ReloadError> {
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || config::load(&path))
            .await
            .map_err(|e| ReloadError::Task(e.to_string()))??;
        let compiled = compile_plans(&loaded.config, &self.runtime, &self.metrics).await;
        let plans = compiled.map_err(|problems| {
            // Watch the modules of this config even though it failed: creating a missing
            // module must trigger the next attempt.
            self.watched
                .send_replace(watched_files(&self.config_path, &loaded));
            ReloadError::Filters {
                path: self.config_path.clone(),
                problems,
            }
        })?;
        Ok((loaded, plans))
    }

    /// Settings bound at start (listen addresses, filter runtime limits) don't change live.
    fn warn_about_restart_only_settings(&self, loaded: &LoadedConfig) {
        let config = &loaded.config;
        if config.server.listen != self.started_with.server.listen
            || config.admin.listen != self.started_with.admin.listen
        {
            tracing::warn!(
                "listen addresses changed in the config: they take effect at the next restart"
            );
        }
        if config.queue != self.started_with.queue {
            tracing::warn!(
                "[queue] settings changed in the config: they take effect at the next restart"
            );
        }
        if &config.filters != self.runtime.settings() {
            tracing::warn!(
                "[filters] settings changed in the config: they take effect at the next restart"
            );
        }
    }

    /// Whether the watched files differ from what the running config was loaded from, and
    /// from what was last refused.
    async fn files_changed(&self) -> bool {
        let files = self.watched.borrow().clone();
        let now = tokio::task::spawn_blocking(move || current_contents(&files))
            .await
            .ok();
        let mut state = self.reload_state.lock().await;
        if now.is_none() || now == state.loaded {
            // Back to what runs: a refused version written again is tried again.
            state.refused = None;
            return false;
        }
        let changed = now != state.refused;
        if changed {
            state.refused = now;
        }
        changed
    }

    /// Records what the first snapshot was built from, so the watcher can compare.
    pub(crate) fn record_initial_files(&self, loaded: &LoadedConfig, plans: &[AppPlan]) {
        let files = watched_files(&self.config_path, loaded);
        let mut state = self
            .reload_state
            .try_lock()
            .expect("nothing else holds the reload lock at start");
        state.loaded = Some(loaded_contents(&self.config_path, loaded, plans));
        self.watched.send_replace(files);
    }
}

/// Starts watching the files the current config depends on. Done before the gateway says
/// it is ready, so no change made after that is missed.
pub fn start_watching(gateway: &Gateway) -> Option<(config::FileWatcher, mpsc::Receiver<()>)> {
    match config::FileWatcher::new() {
        Ok((mut watcher, hints)) => {
            watcher.watch_files(gateway.watched.borrow().iter().map(PathBuf::as_path));
            Some((watcher, hints))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot watch files; reload with SIGHUP or /admin/reload");
            None
        }
    }
}

/// Reloads whenever the config or one of its modules changes on disk, and keeps the watched
/// set equal to what the current config depends on. Runs until aborted.
pub async fn watch_files(
    gateway: Arc<Gateway>,
    mut watcher: config::FileWatcher,
    mut hints: mpsc::Receiver<()>,
) {
    let mut files: watch::Receiver<Vec<PathBuf>> = gateway.watched.subscribe();
    files.mark_unchanged();
    loop {
        tokio::select! {
            hint = hints.recv() => {
                if hint.is_none() {
                    return;
                }
                debounce(&mut hints).await;
                if gateway.files_changed().await {
                    gateway.reload(ReloadTrigger::FileChange).await;
                }
            }
            changed = files.changed() => {
                if changed.is_err() {
                    return;
                }
                watcher.watch_files(files.borrow_and_update().iter().map(PathBuf::as_path));
            }
        }
    }
}

/// Waits until no hint has arrived for [`DEBOUNCE`], so a burst makes one reload.
async fn debounce(hints: &mut mpsc::Receiver<()>) {
    while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, hints.recv()).await {}
}

/// Reloads on every SIGHUP.
/// Takes over SIGHUP now (its default would end the process), for [`reload_on_sighup`]:
/// done before the gateway says it is ready, so a SIGHUP right after never kills it.
pub fn catch_sighup() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::error!(error = %e, "cannot handle SIGHUP"))
        .ok()
}

/// Reloads on every SIGHUP caught by `hups`.
pub async fn reload_on_sighup(gateway: Arc<Gateway>, mut hups: tokio::signal::unix::Signal) {
    while hups.recv().await.is_some() {
        gateway.reload(ReloadTrigger::Signal).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &Path) -> LoadedConfig {
        config::load(path).unwrap()
    }

    #[test]
    fn what_was_loaded_is_compared_not_what_the_file_holds_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        let v1 = "[[apps]]\nid = \"a\"\nkey = \"k\"\nsecret = \"s\"\n";
        std::fs::write(&path, v1).unwrap();
        let loaded = load(&path);
        let files = watched_files(&path, &loaded);
        assert_eq!(files, std::slice::from_ref(&path));
        let was_loaded = loaded_contents(&path, &loaded, &[]);
        assert_eq!(current_contents(&files), was_loaded, "nothing changed yet");

        // Written after the load read it: a change, even though no reload has seen it.
        std::fs::write(&path, v1.replace("\"s\"", "\"s2\"")).unwrap();
        assert_ne!(current_contents(&files), was_loaded);
        std::fs::write(&path, v1).unwrap();
        assert_eq!(current_contents(&files), was_loaded, "back as loaded");

        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            current_contents(&files)[&path],
            None,
            "a missing file is a state"
        );
    }

    #[test]
    fn an_outcome_is_ok_exactly_when_it_has_no_error() {
        let outcome = |error: Option<&str>| ReloadOutcome {
            trigger: ReloadTrigger::Admin,
            at_ms: 1,
            error: error.map(str::to_owned),
            duration_ms: 2.0,
        };
        let ok = serde_json::to_value(outcome(None)).unwrap();
        assert_eq!(ok["ok"], true);
        assert_eq!(ok["trigger"], "admin");
        let refused = serde_json::to_value(outcome(Some("apps: at least one app"))).unwrap();
        assert_eq!(refused["ok"], false);
        assert_eq!(refused["error"], "apps: at least one app");
    }
}
