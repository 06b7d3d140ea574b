//! Idle memory: the gateway with 10 apps, each with one webhook and one channel-router filter,
//! a few seconds after it answers. Started twice on one filter cache (the first start compiles
//! the module, the second loads it compiled), and once without the filters.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tokio::process::Command;

use crate::metrics::status_kib;
use crate::runner::{free_port, spawn, wait_ready};

const APPS: usize = 10;
/// How long the gateway idles before its RSS is read.
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Default, Serialize)]
pub struct IdleMemory {
    /// VmRSS of the same 10 apps without filters.
    pub no_filters_kib: Option<u64>,
    /// With the 10 filters, on the start that compiled the module.
    pub compiled_kib: Option<u64>,
    /// With the 10 filters, restarted: the module comes from the cache.
    pub cached_kib: Option<u64>,
}

pub async fn measure(
    gateway_bin: &Path,
    filter_wasm: &Path,
    dir: &Path,
    sink_port: u16,
    http: &reqwest::Client,
) -> anyhow::Result<IdleMemory> {
    std::fs::create_dir_all(dir)?;
    std::fs::copy(filter_wasm, dir.join("channel_router.wasm"))?;
    let idle = |filters: bool, name: &'static str| {
        let config = dir.join(format!("{name}.toml"));
        async move {
            let port = free_port()?;
            std::fs::write(&config, config_text(port, filters, sink_port))?;
            let mut cmd = Command::new(gateway_bin);
            cmd.args(["--log-format", "json", "run", "--config"])
                .arg(&config)
                .env("RUST_LOG", "warn");
            let gateway = spawn(&mut cmd, &dir.join(format!("{name}.log")))?;
            wait_ready(http, &format!("http://127.0.0.1:{port}/healthz"), &gateway).await?;
            tokio::time::sleep(SETTLE).await;
            let rss = status_kib(gateway.pid(), "VmRSS");
            gateway.stop().await;
            anyhow::Ok(rss)
        }
    };
    Ok(IdleMemory {
        no_filters_kib: idle(false, "no-filters").await?,
        compiled_kib: idle(true, "compiled").await?,
        cached_kib: idle(true, "cached").await?,
    })
}

/// Paths are relative to the config's directory: the queue, the filter cache and the module.
fn config_text(port: u16, filters: bool, sink_port: u16) -> String {
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_delay_ms = 0\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[filters]\ncache_dir = \"filter-cache\"\n\n[queue]\ndir = \"queue-{port}\"\n"
    );
    for n in 0..APPS {
        config += &format!(
            "\n[[apps]]\nid = \"app-{n}\"\nkey = \"key-{n}\"\nsecret = \"secret-{n}\"\n\n[[apps.webhooks]]\nid = \"private\"\nurl = \"http://127.0.0.1:{sink_port}/hook/idle\"\nevent_types = [\"client_event\"]\n"
        );
        if filters {
            config += "filters = [{ module = \"channel_router.wasm\", params = { routes = [{ webhook = \"private\", channels = [\"private-*\"] }] } }]\n";
        }
    }
    config
}
