//! What is measured: the scenarios, their references for ratios, and the gateway configs.

use std::path::Path;

/// The apps every process knows (key, secret). The simple shape, the forwarder and the durable
/// reference use the first; the realistic shape all three.
pub const APPS: [(&str, &str); 3] = [
    ("speed-key-1", "speed-secret-1"),
    ("speed-key-2", "speed-secret-2"),
    ("speed-key-3", "speed-secret-3"),
];

pub const EVENT_TYPES: &str = r#"["channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss", "subscription_count"]"#;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum System {
    /// The load generator straight to the sink: the floor of the latency measurement.
    Direct,
    Forwarder,
    DurableRef {
        fsync: bool,
        per_delivery: usize,
    },
    Gateway(Shape),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// 1 app, 1 webhook with all 7 event types, no filter.
    Simple { one_event_per_delivery: bool },
    /// 3 apps × 3 webhooks, channel prefix filters, and (with `wasm`) one channel-router
    /// filter per webhook.
    Realistic { wasm: bool },
}

/// Where the gateway's queue is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Queue {
    /// The embedded store in the node's own directory, fsync on (the default).
    Embedded,
    /// One `redis-server` of the scenario's own, shared by every node, its append-only file
    /// fsynced on every write (`always`) or once a second (`everysec`).
    Redis { fsync_always: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Connections sending back to back, at the maximum rate.
    Closed,
    /// A fixed schedule, as a multiple of the gateway's measured maximum rate.
    Open { of_max: f64 },
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: &'static str,
    pub group: &'static str,
    pub label: &'static str,
    pub system: System,
    pub events_per_request: u64,
    pub connections: usize,
    pub load: Load,
    /// The rows whose delivered events/s this one is divided by.
    pub vs_forwarder: Option<&'static str>,
    pub vs_durable: Option<&'static str>,
    /// The gateway's queue, and how many gateway nodes share it (the load generator spreads
    /// its connections over their ingest addresses).
    pub queue: Queue,
    pub nodes: usize,
    /// Redis rows: the embedded store's row, and the same queue's 1-node row.
    pub vs_embedded: Option<&'static str>,
    pub vs_one_node: Option<&'static str>,
    /// After the window, wait for the backlog and compare acknowledged with delivered events.
    pub count_losses: bool,
}

const fn closed(
    id: &'static str,
    group: &'static str,
    label: &'static str,
    system: System,
    events_per_request: u64,
    connections: usize,
    vs: (Option<&'static str>, Option<&'static str>),
) -> Scenario {
    Scenario {
        id,
        group,
        label,
        system,
        events_per_request,
        connections,
        load: Load::Closed,
        vs_forwarder: vs.0,
        vs_durable: vs.1,
        queue: Queue::Embedded,
        nodes: 1,
        vs_embedded: None,
        vs_one_node: None,
        count_losses: false,
    }
}

/// A row of the `redis` group: the simple config, 1 event per request, [`SCALE_CONNECTIONS`]
/// connections spread over `nodes` gateways.
const fn scale_out(
    id: &'static str,
    label: &'static str,
    queue: Queue,
    nodes: usize,
    vs_one_node: Option<&'static str>,
) -> Scenario {
    let simple = System::Gateway(Shape::Simple {
        one_event_per_delivery: false,
    });
    let vs_embedded = match queue {
        Queue::Embedded => None,
        Queue::Redis { .. } => Some("redis-embedded"),
    };
    Scenario {
        queue,
        nodes,
        vs_embedded,
        vs_one_node,
        count_losses: true,
        ..closed(
            id,
            "redis",
            label,
            simple,
            1,
            SCALE_CONNECTIONS,
            (None, None),
        )
    }
}

/// The `redis` group's load: the same total for every node count.
pub const SCALE_CONNECTIONS: usize = 64;

/// Every scenario, in the order they run (references first: ratios need them).
pub fn all() -> Vec<Scenario> {
    use System::*;
    let durable = |fsync, per_delivery| DurableRef {
        fsync,
        per_delivery,
    };
    let simple = |one| {
        Gateway(Shape::Simple {
            one_event_per_delivery: one,
        })
    };
    let realistic = |wasm| Gateway(Shape::Realistic { wasm });
    let (f1, f20) = (Some("forwarder-1"), Some("forwarder-20"));
    let open = |id, label, system, of_max, connections| {
        let group = if of_max > 1.0 { "overload" } else { "latency" };
        Scenario {
            load: Load::Open { of_max },
            ..closed(id, group, label, system, 1, connections, (None, None))
        }
    };
    vec![
        closed(
            "forwarder-1",
            "baseline",
            "forwarder, 1 ev/req",
            Forwarder,
            1,
            32,
            (None, None),
        ),
        closed(
            "forwarder-20",
            "baseline",
            "forwarder, 20 ev/req",
            Forwarder,
            20,
            32,
            (None, None),
        ),
        closed(
            "durable-1",
            "durable",
            "durable-ref fsync on, 1 ev/req",
            durable(true, 100),
            1,
            32,
            (f1, None),
        ),
        closed(
            "durable-nofsync-1",
            "durable",
            "durable-ref fsync off, 1 ev/req",
            durable(false, 100),
            1,
            32,
            (f1, Some("durable-1")),
        ),
        closed(
            "durable-20",
            "durable",
            "durable-ref fsync on, 20 ev/req",
            durable(true, 100),
            20,
            32,
            (f20, None),
        ),
        closed(
            "durable-c128",
            "durable",
            "durable-ref fsync on, 128 conns",
            durable(true, 100),
            1,
            128,
            (f1, Some("durable-1")),
        ),
        closed(
            "durable-per-event",
            "durable",
            "durable-ref fsync on, 1 ev/delivery",
            durable(true, 1),
            1,
            32,
            (f1, Some("durable-1")),
        ),
        closed(
            "gateway-1",
            "simple",
            "gateway simple, 1 ev/req",
            simple(false),
            1,
            32,
            (f1, Some("durable-1")),
        ),
        closed(
            "gateway-20",
            "simple",
            "gateway simple, 20 ev/req",
            simple(false),
            20,
            32,
            (f20, Some("durable-20")),
        ),
        closed(
            "gateway-per-event",
            "simple",
            "gateway simple, max_events = 1",
            simple(true),
            1,
            32,
            (f1, Some("durable-per-event")),
        ),
        closed(
            "gateway-c128",
            "simple",
            "gateway simple, 128 conns",
            simple(false),
            1,
            128,
            (f1, Some("durable-c128")),
        ),
        closed(
            "realistic-wasm",
            "realistic",
            "gateway realistic, wasm filters",
            realistic(true),
            1,
            32,
            (f1, Some("durable-1")),
        ),
        closed(
            "realistic-nowasm",
            "realistic",
            "gateway realistic, no wasm filters",
            realistic(false),
            1,
            32,
            (f1, Some("durable-1")),
        ),
        open(
            "latency-direct",
            "loadgen → sink, 50 % of max",
            Direct,
            0.5,
            128,
        ),
        open(
            "latency-forwarder",
            "forwarder, 50 % of max",
            Forwarder,
            0.5,
            128,
        ),
        // Not in the issue's list: tells the disk's stalls (fsync) from the gateway's own.
        open(
            "latency-durable",
            "durable-ref fsync on, 50 % of max",
            durable(true, 100),
            0.5,
            128,
        ),
        open(
            "latency-gateway",
            "gateway simple, 50 % of max",
            simple(false),
            0.5,
            128,
        ),
        open(
            "overload",
            "gateway simple, 2× max",
            simple(false),
            2.0,
            512,
        ),
        scale_out(
            "redis-embedded",
            "embedded store, 1 node",
            Queue::Embedded,
            1,
            None,
        ),
        scale_out("redis-1", "Redis always, 1 node", ALWAYS, 1, None),
        scale_out(
            "redis-2",
            "Redis always, 2 nodes",
            ALWAYS,
            2,
            Some("redis-1"),
        ),
        scale_out(
            "redis-3",
            "Redis always, 3 nodes",
            ALWAYS,
            3,
            Some("redis-1"),
        ),
        scale_out(
            "redis-everysec-1",
            "Redis everysec, 1 node",
            EVERYSEC,
            1,
            None,
        ),
        scale_out(
            "redis-everysec-3",
            "Redis everysec, 3 nodes",
            EVERYSEC,
            3,
            Some("redis-everysec-1"),
        ),
    ]
}

const ALWAYS: Queue = Queue::Redis { fsync_always: true };
const EVERYSEC: Queue = Queue::Redis {
    fsync_always: false,
};

/// The scenarios whose sustained rate (the lower of acked requests/s and delivered events/s)
/// gives the gateway's maximum rate, the best of them: the latency and overload loads are
/// fractions of it.
pub const MAX_RATE_FROM: [&str; 2] = ["gateway-1", "gateway-c128"];

/// The scenarios named by `selection` (ids or groups; empty: all). The latency and overload
/// scenarios need the gateway's maximum rate, so they bring its scenarios along.
pub fn select(selection: &[String]) -> anyhow::Result<Vec<Scenario>> {
    let all = all();
    if selection.is_empty() {
        return Ok(all);
    }
    for name in selection {
        anyhow::ensure!(
            all.iter().any(|s| s.id == name || s.group == name),
            "unknown scenario {name:?}; ids: {}; groups: baseline, durable, simple, realistic, latency, overload, redis",
            all.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
        );
    }
    let wanted = |s: &Scenario| selection.iter().any(|n| n == s.id || n == s.group);
    let needs_max = all
        .iter()
        .any(|s| wanted(s) && matches!(s.load, Load::Open { .. }));
    Ok(all
        .into_iter()
        .filter(|s| wanted(s) || (needs_max && MAX_RATE_FROM.contains(&s.id)))
        .collect())
}

/// The gateway's config for `shape`: listening on `port`, its queue in `dir` or in the Redis at
/// `redis_url`, delivering to the sink on `sink_port`; `filter` is the channel-router module's
/// file name inside `dir`.
pub fn gateway_config(
    shape: Shape,
    port: u16,
    dir: &Path,
    redis_url: Option<&str>,
    sink_port: u16,
    filter: &str,
) -> String {
    let queue = match redis_url {
        Some(url) => format!("backend = \"redis\"\nurl = {url:?}\nprefix = \"speed:\"\n"),
        None => format!("dir = {:?}\n", dir.join("queue").display().to_string()),
    };
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_delay_ms = 0\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[queue]\n{queue}"
    );
    let sink =
        |app: &str, webhook: &str| format!("http://127.0.0.1:{sink_port}/hook/{app}/{webhook}");
    match shape {
        Shape::Simple {
            one_event_per_delivery,
        } => {
            let (key, secret) = APPS[0];
            config +=
                &format!("\n[[apps]]\nid = \"app-1\"\nkey = \"{key}\"\nsecret = \"{secret}\"\n");
            if one_event_per_delivery {
                config += "batching = { max_events = 1 }\n";
            }
            config += &format!(
                "\n[[apps.webhooks]]\nid = \"all\"\nurl = \"{}\"\nevent_types = {EVENT_TYPES}\n",
                sink("app-1", "all")
            );
        }
        Shape::Realistic { wasm } => {
            // Each event reaches exactly one webhook of its app (client events only happen on
            // presence and private channels, member events on presence ones), and each
            // channel-router keeps what the prefix filter already let through: with or
            // without the wasm filters, the same events are delivered.
            let webhooks = [
                (
                    "presence",
                    r#"["member_added", "member_removed", "client_event"]"#,
                    Some("presence-"),
                ),
                ("private", r#"["client_event"]"#, Some("private-")),
                (
                    "lifecycle",
                    r#"["channel_occupied", "channel_vacated"]"#,
                    None,
                ),
            ];
            for (n, (key, secret)) in APPS.iter().enumerate() {
                let app = format!("app-{}", n + 1);
                config += &format!(
                    "\n[[apps]]\nid = \"{app}\"\nkey = \"{key}\"\nsecret = \"{secret}\"\n"
                );
                for (id, types, prefix) in webhooks {
                    config += &format!(
                        "\n[[apps.webhooks]]\nid = \"{id}\"\nurl = \"{}\"\nevent_types = {types}\n",
                        sink(&app, id)
                    );
                    if let Some(prefix) = prefix {
                        config +=
                            &format!("filter = {{ channel_name_starts_with = \"{prefix}\" }}\n");
                    }
                    if wasm {
                        let channels = prefix.map_or("*".to_owned(), |p| format!("{p}*"));
                        config += &format!(
                            "filters = [{{ module = \"{filter}\", params = {{ routes = [{{ webhook = \"{id}\", channels = [\"{channels}\"] }}], otherwise = \"drop\" }} }}]\n"
                        );
                    }
                }
            }
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_group_brings_the_max_rate_along() {
        let ids = |sel: &[&str]| {
            select(&sel.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&["overload"]),
            ["gateway-1", "gateway-c128", "overload"]
        );
        assert_eq!(ids(&["baseline"]), ["forwarder-1", "forwarder-20"]);
        assert_eq!(ids(&["redis"])[..2], ["redis-embedded", "redis-1"]);
        assert_eq!(ids(&[]).len(), all().len());
        assert!(select(&["nope".to_string()]).is_err());
    }

    #[test]
    fn references_exist_and_run_first() {
        let all = all();
        for (i, s) in all.iter().enumerate() {
            let refs = [s.vs_forwarder, s.vs_durable, s.vs_embedded, s.vs_one_node];
            for r in refs.into_iter().flatten() {
                let at = all.iter().position(|o| o.id == r).unwrap();
                assert!(at < i, "{} before {}", r, s.id);
            }
        }
    }

    #[test]
    fn realistic_config_has_nine_webhooks() {
        let c = gateway_config(
            Shape::Realistic { wasm: true },
            1,
            Path::new("/tmp/x"),
            None,
            2,
            "r.wasm",
        );
        assert_eq!(c.matches("[[apps.webhooks]]").count(), 9);
        assert_eq!(c.matches("module = \"r.wasm\"").count(), 9);
        let c = gateway_config(
            Shape::Realistic { wasm: false },
            1,
            Path::new("/tmp/x"),
            None,
            2,
            "r.wasm",
        );
        assert_eq!(c.matches("module").count(), 0);
    }

    #[test]
    fn redis_config_has_no_queue_dir() {
        let simple = Shape::Simple {
            one_event_per_delivery: false,
        };
        let c = gateway_config(
            simple,
            1,
            Path::new("/tmp/x"),
            Some("redis://127.0.0.1:6"),
            2,
            "",
        );
        assert!(c.contains("backend = \"redis\"\nurl = \"redis://127.0.0.1:6\""));
        assert!(!c.contains("dir ="));
    }
}
