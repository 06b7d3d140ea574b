//! Notices changes to the config file and the filter modules it references.
//!
//! Watches the *directories* holding those files, not the files: editors and deploys replace
//! files by rename, and Kubernetes ConfigMaps swap a `..data` symlink, neither of which a
//! watch on the old file would see. Any event in a watched directory is only a hint; the
//! reloader compares content hashes to decide whether anything really changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Watches a set of files' directories; each burst of activity yields at least one hint.
pub struct FileWatcher {
    watcher: RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
}

impl FileWatcher {
    /// Starts a watcher; hints arrive on the returned receiver (coalesced: a full channel
    /// already holds a pending hint).
    pub fn new() -> notify::Result<(Self, mpsc::Receiver<()>)> {
        let (tx, rx) = mpsc::channel(1);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = tx.try_send(());
            }
        })?;
        Ok((
            Self {
                watcher,
                dirs: BTreeSet::new(),
            },
            rx,
        ))
    }

    /// Watches exactly the directories holding `files` (adding and removing as needed).
    pub fn watch_files<'a>(&mut self, files: impl IntoIterator<Item = &'a Path>) {
        let wanted: BTreeSet<PathBuf> = files.into_iter().map(directory_of).collect();
        for gone in self.dirs.difference(&wanted) {
            let _ = self.watcher.unwatch(gone);
        }
        for dir in wanted.difference(&self.dirs) {
            if let Err(e) = self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory; changes there need SIGHUP or /admin/reload");
            }
        }
        self.dirs = wanted;
    }
}

fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}
