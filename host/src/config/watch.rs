//! Notices changes to the config file and the filter modules it references.
//!
//! Watches the *directories* holding those files, not the files: editors and deploys replace
//! files by rename, and Kubernetes ConfigMaps swap a `..data` symlink, neither of which a
//! watch on the old file would see. Any event in a watched directory is only a hint; the
//! reloader compares content hashes to decide whether anything really changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Watches a set of files' directories; each burst of changes yields at least one hint.
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
            // Reading a file is no change, and the reloader reads the files to hash them: a
            // hint per read would make it read again, forever.
            let read_only = matches!(&event, Ok(e) if matches!(e.kind, EventKind::Access(_)));
            if !read_only {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn reading_a_watched_file_is_no_hint_and_writing_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("switchyard.toml");
        std::fs::write(&file, "a").unwrap();
        let (mut watcher, mut hints) = FileWatcher::new().unwrap();
        watcher.watch_files([file.as_path()]);
        for _ in 0..3 {
            std::fs::read(&file).unwrap();
        }
        let quiet = tokio::time::timeout(Duration::from_millis(300), hints.recv()).await;
        assert!(quiet.is_err(), "a read gave a hint");
        std::fs::write(&file, "b").unwrap();
        let hint = tokio::time::timeout(Duration::from_secs(5), hints.recv()).await;
        assert_eq!(hint.unwrap(), Some(()));
    }
}
