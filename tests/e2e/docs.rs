//! The manual stays true: every config it marks `<!-- check -->` passes `switchyard check`,
//! every `switchyard` (or `cargo run --`) command it shows names a subcommand and flags the
//! binary has, every config file a command names exists, and every `cargo bench --bench` names
//! a benchmark that exists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::support::{binary, repo_root, run_cli};

/// The pages of the manual.
fn pages() -> Vec<PathBuf> {
    let root = repo_root();
    let mut pages = vec![
        root.join("README.md"),
        root.join("guest-filters/README.md"),
        root.join("bench/queue-store/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// A fenced code block: its language, its text, and whether the line before it asks for a
/// check.
struct Block {
    lang: String,
    text: String,
    checked: bool,
    line: usize,
}

fn blocks(page: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut previous = "";
    for (i, line) in text.lines().enumerate() {
        match &mut open {
            None if line.starts_with("```") => {
                open = Some(Block {
                    lang: line.trim_start_matches('`').trim().to_owned(),
                    text: String::new(),
                    checked: previous.trim() == "<!-- check -->",
                    line: i + 1,
                });
            }
            None => {}
            Some(_) if line.starts_with("```") => out.push(open.take().unwrap()),
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    out
}

#[test]
fn every_config_the_manual_marks_is_valid() {
    let mut checked = 0;
    for page in pages() {
        for block in blocks(&page).into_iter().filter(|b| b.checked) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("switchyard.{}", block.lang));
            std::fs::write(&path, &block.text).unwrap();
            let (code, out) = run_cli(&["check", "--config", path.to_str().unwrap()]);
            assert_eq!(code, 0, "{}:{}: {out}", page.display(), block.line);
            checked += 1;
        }
    }
    assert!(checked >= 2, "the manual shows checked configs");
}

/// `switchyard <path> --help`, remembered.
struct Help(HashMap<Vec<String>, String>);

impl Help {
    fn of(&mut self, path: &[String]) -> &str {
        self.0.entry(path.to_vec()).or_insert_with(|| {
            let out = std::process::Command::new(binary())
                .args(path)
                .arg("--help")
                .output()
                .unwrap();
            assert!(out.status.success(), "switchyard {path:?} --help failed");
            String::from_utf8(out.stdout).unwrap()
        })
    }

    /// The subcommands `switchyard <path>` lists.
    fn subcommands(&mut self, path: &[String]) -> Vec<String> {
        let help = self.of(path);
        let Some((_, after)) = help.split_once("Commands:\n") else {
            return Vec::new();
        };
        after
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }
}

/// A command line split into words, quotes respected (as a shell would, roughly).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The commands of a shell block: continuation lines joined, comments and prompts dropped,
/// pipelines and `&&` chains split.
fn commands(block: &str) -> Vec<Vec<String>> {
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .map(|l| l.strip_prefix("$ ").unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .flat_map(|l| {
            l.split(" | ")
                .flat_map(|c| c.split(" && "))
                .map(words)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_command_the_manual_shows_exists_with_its_flags() {
    let root = repo_root();
    let benches = std::fs::read_to_string(root.join("host/Cargo.toml")).unwrap();
    let mut help = Help(HashMap::new());
    let mut seen = 0;
    for page in pages() {
        for block in blocks(&page).into_iter().filter(|b| b.lang == "sh") {
            for command in commands(&block.text) {
                let at = format!("{}:{}: {command:?}", page.display(), block.line);
                // Leading VAR=value assignments are the shell's, not the command's.
                let words: Vec<&String> = command.iter().skip_while(|w| w.contains('=')).collect();
                if let ["cargo", "bench", rest @ ..] =
                    &words.iter().map(|w| w.as_str()).collect::<Vec<_>>()[..]
                    && let Some(i) = rest.iter().position(|w| *w == "--bench")
                    && rest[i + 1] != "NAME"
                {
                    let name = format!("name = \"{}\"", rest[i + 1]);
                    assert!(benches.contains(&name), "{at}: no such benchmark");
                    continue;
                }
                let args: Vec<String> = match words.as_slice() {
                    [first, rest @ ..] if first.as_str() == "switchyard" => {
                        rest.iter().map(|w| w.to_string()).collect()
                    }
                    [cargo, run, dashes, rest @ ..]
                        if cargo.as_str() == "cargo"
                            && run.as_str() == "run"
                            && dashes.as_str() == "--" =>
                    {
                        rest.iter().map(|w| w.to_string()).collect()
                    }
                    _ => continue,
                };
                seen += 1;
                let mut path = Vec::new();
                for word in args.iter().filter(|w| !w.starts_with('-')) {
                    if help.subcommands(&path).contains(word) {
                        path.push(word.clone());
                    } else {
                        break;
                    }
                }
                assert!(!path.is_empty(), "{at}: no such subcommand");
                for flag in args.iter().filter(|w| w.starts_with("--")) {
                    let flag = flag.split('=').next().unwrap();
                    assert!(
                        help.of(&path).contains(flag),
                        "{at}: `switchyard {}` has no {flag}",
                        path.join(" ")
                    );
                }
                if let Some(i) = args.iter().position(|w| w == "--config") {
                    let config = &args[i + 1];
                    if config.starts_with("config/") {
                        assert!(root.join(config).is_file(), "{at}: no {config}");
                        let (code, out) =
                            run_cli(&["check", "--config", root.join(config).to_str().unwrap()]);
                        assert_eq!(code, 0, "{at}: {out}");
                    }
                }
            }
        }
    }
    assert!(seen >= 10, "only {seen} commands found in the manual");
}
