//! `switchyard import soketi`: move a soketi setup onto the gateway (see
//! [`crate::import::soketi`]). Writes the config, prints or writes the soketi snippet, and
//! reports on stderr everything it changed or left out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use reqwest::Url;
use serde_json::Value;

use crate::import::soketi::{self, ImportError, Imported, Input};
use crate::import::{Format, Level, render};

/// Move an existing setup onto Switchyard.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import soketi's apps and webhooks, and point soketi at the gateway.
    ///
    /// Reads soketi's config file (the JSON given to `soketi start --config=FILE`, with dotted
    /// keys such as "appManager.array.apps" or nested objects) and, with --env or when the
    /// file has no apps, soketi's SOKETI_* variables (SOKETI_DEFAULT_APP_ID, _KEY, _SECRET,
    /// _WEBHOOKS, SOKETI_WEBHOOKS_BATCHING, ...), the way soketi 1.6.1 reads them.
    ///
    /// Writes a Switchyard config with the same apps (id, key, secret) and each webhook as it
    /// was (url or lambda_function, event_types, headers, filter, lambda options); soketi's
    /// webhook batching becomes each app's `batching = { window_ms }`.
    ///
    /// Then prints the snippet to put back into soketi: each app keeps its settings and gets one
    /// webhook, every event type, to the gateway's /ingest/pusher; the gateway decides from
    /// there. With --out it is written beside the config instead (NAME.soketi.json for the
    /// config file, NAME.soketi.env for variables).
    ///
    /// Everything soketi never used (an unknown event type, a webhook without a target, a
    /// misspelled option) is left out and reported on stderr; nothing is dropped silently. The
    /// written config always passes `switchyard check`.
    Soketi(SoketiArgs),
}

/// `switchyard import soketi`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    switchyard import soketi soketi.json --out switchyard.toml --gateway-url http://gateway:7700\n  \
    SOKETI_DEFAULT_APP_WEBHOOKS='[...]' switchyard import soketi --env > switchyard.toml")]
pub struct SoketiArgs {
    /// soketi's config file (JSON). Leave it out to import from the environment only.
    file: Option<PathBuf>,
    /// Write the config here (.toml or .json) and the soketi snippet beside it
    /// [default: config to stdout as TOML, snippet to stderr].
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Where soketi will reach the gateway: the snippet's webhook URL (`/ingest/pusher` is
    /// added unless given) and the config's listen address follow from it.
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    gateway_url: Url,
    /// Read SOKETI_* variables over the file, as soketi does (without --env they are read
    /// only when the file has no apps).
    #[arg(long)]
    env: bool,
    /// Read the SOKETI_* variables from this file of NAME=value lines instead of the
    /// environment (implies --env).
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Replace files that already exist.
    #[arg(long)]
    force: bool,
}

/// Runs one `import` subcommand.
pub fn run(command: ImportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImportCommand::Soketi(args) => import_soketi(&args),
    }
}

fn import_soketi(args: &SoketiArgs) -> anyhow::Result<ExitCode> {
    let format = match &args.out {
        Some(out) => Format::of_path(out).with_context(|| {
            format!(
                "{}: the config file name must end in .toml or .json",
                out.display()
            )
        })?,
        None => Format::Toml,
    };
    let file = args.file.as_deref().map(read_json).transpose()?;
    let env: Vec<(String, String)> = match &args.env_file {
        Some(path) => read_env_file(path)?,
        None => std::env::vars().collect(),
    };
    if file.is_none() && !args.env && args.env_file.is_none() {
        bail!("give soketi's config file, or --env / --env-file to import from its variables");
    }
    let input = Input {
        file: file.as_ref(),
        env: &env,
        use_env: args.env || args.env_file.is_some(),
        gateway_url: &args.gateway_url,
    };
    let imported = match soketi::import(input) {
        Ok(imported) => imported,
        Err(e @ (ImportError::NoApps(_) | ImportError::Invalid(_) | ImportError::NotAnObject)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    for note in &imported.notes {
        eprintln!("{note}");
    }
    write_outputs(args, format, &imported)?;
    Ok(ExitCode::SUCCESS)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// `NAME=value` lines (an optional `export `, optional quotes, `#` comments), as env files
/// for soketi's container or its dotenv read them.
fn read_env_file(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut vars = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let unquoted = [('\'', '\''), ('"', '"')]
            .iter()
            .find_map(|(open, close)| value.strip_prefix(*open)?.strip_suffix(*close))
            .unwrap_or(value);
        vars.push((name.trim().to_owned(), unquoted.to_owned()));
    }
    Ok(vars)
}

fn write_outputs(args: &SoketiArgs, format: Format, imported: &Imported) -> anyhow::Result<()> {
    let source = args
        .file
        .as_ref()
        .map_or_else(|| "its environment".to_owned(), |f| f.display().to_string());
    let ingest = soketi::ingest_url(&args.gateway_url);
    let header = [
        format!("Imported from soketi ({source}) by `switchyard import soketi`."),
        format!("soketi sends every event to {ingest}; this file decides where each goes."),
    ];
    let config = render(&imported.tree, format, &header)?;
    let snippet = &imported.snippet;
    let warnings = imported
        .notes
        .iter()
        .filter(|n| n.level == Level::Warning)
        .count();
    let apps = &imported.config.apps;
    let webhooks: usize = apps.iter().map(|a| a.webhooks.len()).sum();
    let summary = format!(
        "imported {} app(s) with {webhooks} webhook(s) from {source}; {warnings} warning(s)",
        apps.len()
    );
    let Some(out) = &args.out else {
        print!("{config}");
        eprintln!("{summary}");
        if let Some(text) = snippet.file_text() {
            eprintln!(
                "\nPut this into soketi's config file, after any `appManager` object \
                 (it replaces the apps list):\n{text}"
            );
        }
        if let Some(text) = snippet.env_text() {
            eprintln!("\nSet these variables for soketi:\n{text}");
        }
        return Ok(());
    };
    let mut files = vec![(out.clone(), config)];
    if let Some(text) = snippet.file_text() {
        files.push((beside(out, "soketi.json"), text));
    }
    if let Some(text) = snippet.env_text() {
        files.push((beside(out, "soketi.env"), text));
    }
    // All or nothing: no file is replaced unless asked, and none is written if one would be.
    if !args.force
        && let Some((path, _)) = files.iter().find(|(path, _)| path.exists())
    {
        bail!("{} exists (--force replaces it)", path.display());
    }
    for (path, text) in &files {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!("{summary}");
    for (path, _) in &files {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// `dir/NAME.toml` → `dir/NAME.<suffix>`.
fn beside(out: &Path, suffix: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "switchyard".into(), |s| s.to_string_lossy());
    out.with_file_name(format!("{stem}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_take_quotes_exports_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("soketi.env");
        let text = "# soketi\nexport SOKETI_DEFAULT_APP_ID=app-1\nSOKETI_DEFAULT_APP_WEBHOOKS='[{\"url\":\"x\"}]'\n\nSOKETI_DEBUG=\"1\"\n";
        std::fs::write(&path, text).unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!(
            vars,
            [
                ("SOKETI_DEFAULT_APP_ID", "app-1"),
                ("SOKETI_DEFAULT_APP_WEBHOOKS", "[{\"url\":\"x\"}]"),
                ("SOKETI_DEBUG", "1"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(
            beside(Path::new("/a/b/gw.toml"), "soketi.json"),
            Path::new("/a/b/gw.soketi.json")
        );
    }
}
