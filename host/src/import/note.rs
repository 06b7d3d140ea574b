//! What an import tells the operator about the source config.

use std::fmt;

/// How much a [`Note`] matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something in the source was left out or changed: the operator should look.
    Warning,
    /// Information: how something was carried over.
    Note,
}

/// One thing the import noticed, with the path of the source option it concerns
/// (`appManager.array.apps[0].webhooks[1].event_types[2]`, `SOKETI_DEFAULT_APP_WEBHOOKS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Warning => "warning",
            Level::Note => "note",
        };
        if self.path.is_empty() {
            write!(f, "{level}: {}", self.message)
        } else {
            write!(f, "{level}: {}: {}", self.path, self.message)
        }
    }
}

/// The notes collected so far.
#[derive(Debug, Default)]
pub(crate) struct Report(pub(crate) Vec<Note>);

impl Report {
    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.push(Level::Warning, path, message.into());
    }

    pub(crate) fn note(&mut self, path: &str, message: impl Into<String>) {
        self.push(Level::Note, path, message.into());
    }

    fn push(&mut self, level: Level, path: &str, message: String) {
        self.0.push(Note {
            level,
            path: path.to_owned(),
            message,
        });
    }
}
