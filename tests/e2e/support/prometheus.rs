//! A real Prometheus server (Debian's `prometheus` package) scraping the gateway every second.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ChildGuard, PATIENCE, collect_output, free_port, start_on_a_free_port};

pub struct Prometheus {
    _child: ChildGuard,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes `target` (host:port, `/metrics`) as job `switchyard` every second, evaluating
    /// the alerting rules of `rules` every second.
    pub fn start(target: &str, rules: &Path) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules:?}\nscrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules = rules.display().to_string(),
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let (child, url) = start_on_a_free_port("prometheus", || {
            let port = free_port();
            let mut child = Command::new("prometheus")
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| vec![format!("cannot run prometheus: {e}")])?;
            let output = collect_output(&mut child);
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let ready = reqwest::blocking::get(format!("{url}/-/ready"));
                if ready.is_ok_and(|r| r.status().is_success()) {
                    return Ok((ChildGuard(child), url));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            Err(output.lock().unwrap().clone())
        });
        Prometheus {
            _child: child,
            url,
            _dir: dir,
        }
    }

    /// An instant query: each series' labels and value.
    pub fn query(&self, query: &str) -> Vec<(Value, f64)> {
        let text = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .unwrap()
            .text()
            .unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["status"], "success", "{query}: {answer}");
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| {
                let value = series["value"][1].as_str().unwrap().parse().unwrap();
                (series["metric"].clone(), value)
            })
            .collect()
    }

    /// Waits until `query` has exactly one series whose value passes `wanted`; returns it.
    pub fn wait_for(&self, query: &str, wanted: impl Fn(f64) -> bool) -> (Value, f64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let result = self.query(query);
            if let [(labels, value)] = &result[..]
                && wanted(*value)
            {
                return (labels.clone(), *value);
            }
            assert!(Instant::now() < deadline, "{query} stayed at {result:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
