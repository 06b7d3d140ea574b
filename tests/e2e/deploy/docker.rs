//! deploy/docker: the Dockerfile, the build context .dockerignore leaves it, and the compose
//! file's mounts, read together with the config they mount. Nothing is built or run: there is
//! no container engine here.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::container::{Container, Exercise};
use super::{
    LANE_GRACE_SECS, Root, config, deploy, example_module, is_under, listen, modules, read,
    resolve, setting, text, tool, yaml,
};
use crate::support::repo_root;

/// One build stage: its name and its instructions (keyword, arguments), continuation lines
/// joined, comments dropped.
struct Stage {
    name: Option<String>,
    instructions: Vec<(String, String)>,
}

/// deploy/docker/Dockerfile, by stage.
pub(super) struct Dockerfile {
    stages: Vec<Stage>,
}

impl Dockerfile {
    pub(super) fn load() -> Self {
        let text = read(&deploy("docker/Dockerfile"));
        let mut stages: Vec<Stage> = Vec::new();
        let mut line = String::new();
        for part in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            match part.strip_suffix('\\') {
                Some(head) => line.push_str(head),
                None => {
                    line.push_str(part);
                    let instruction = std::mem::take(&mut line);
                    let Some((keyword, args)) = instruction.trim().split_once(' ') else {
                        continue;
                    };
                    let (keyword, args) = (keyword.to_uppercase(), args.trim().to_owned());
                    if keyword == "FROM" {
                        let name = args.split_once(" AS ").map(|(_, n)| n.trim().to_owned());
                        stages.push(Stage {
                            name,
                            instructions: Vec::new(),
                        });
                    }
                    let stage = stages.last_mut().expect("the Dockerfile starts with FROM");
                    stage.instructions.push((keyword, args));
                }
            }
        }
        Self { stages }
    }

    /// The arguments of every `keyword` instruction of the stage that makes the image.
    fn runtime(&self, keyword: &str) -> Vec<&str> {
        let stage = self.stages.last().unwrap();
        stage
            .instructions
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, args)| args.as_str())
            .collect()
    }

    /// The exec form (`["a", "b"]`) of the image's last `keyword` instruction.
    pub(super) fn runtime_exec(&self, keyword: &str) -> Vec<String> {
        let args = self.runtime(keyword);
        let last = args.last().unwrap_or_else(|| panic!("no {keyword}"));
        serde_json::from_str(last)
            .unwrap_or_else(|_| panic!("{keyword} is not in exec form: {last}"))
    }

    /// The numeric user the image runs as.
    pub(super) fn user_id(&self) -> String {
        let user = self.runtime("USER");
        let user = user.last().expect("USER");
        let id = user.split(':').next().unwrap();
        assert!(
            id.parse::<u32>().is_ok(),
            "USER {user}: numeric, so runAsNonRoot can check it"
        );
        id.to_owned()
    }

    /// The `COPY` sources of the build stages that read the build context (no `--from`).
    fn context_sources(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for stage in &self.stages[..self.stages.len() - 1] {
            for (_, args) in stage.instructions.iter().filter(|(k, _)| k == "COPY") {
                let words: Vec<&str> = args.split_whitespace().collect();
                assert!(!words[0].starts_with("--"), "a build stage copies {args}");
                let (dest, sources) = words.split_last().unwrap();
                out.extend(sources.iter().map(|s| (s.to_string(), dest.to_string())));
            }
        }
        out
    }

    /// Where the image's `COPY --from=STAGE SRC DEST` instructions put things: (DEST, STAGE).
    fn copied_from_stages(&self) -> Vec<(String, String)> {
        self.runtime("COPY")
            .iter()
            .filter_map(|args| {
                let stage = args
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("--from="))?;
                Some((args.split_whitespace().last()?.to_owned(), stage.to_owned()))
            })
            .collect()
    }
}

/// .dockerignore's patterns: (whether the pattern ignores, the pattern).
fn ignore_patterns() -> Vec<(bool, String)> {
    read(&repo_root().join(".dockerignore"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(p) => (false, p.trim_end_matches('/').to_owned()),
            None => (true, l.trim_end_matches('/').to_owned()),
        })
        .collect()
}

/// Whether `docker build` sends `file` (relative to the context): the last pattern matching
/// it, or a directory above it, decides.
fn sent(patterns: &[(bool, String)], file: &str) -> bool {
    let mut ignored = false;
    for (ignore, pattern) in patterns {
        let mut path = Path::new(file);
        loop {
            if glob(pattern, path.to_str().unwrap()) {
                ignored = *ignore;
                break;
            }
            match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => path = p,
                _ => break,
            }
        }
    }
    !ignored
}

/// The files of a checkout that `docker build` sends from the repository root.
fn build_context() -> Vec<String> {
    let patterns = ignore_patterns();
    let files = Command::new("git")
        .arg("-C")
        .arg(repo_root())
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .output()
        .unwrap();
    assert!(files.status.success());
    String::from_utf8(files.stdout)
        .unwrap()
        .lines()
        .filter(|file| sent(&patterns, file))
        .map(str::to_owned)
        .collect()
}

/// Docker's pattern matching, as far as .dockerignore uses it: `*` within one path segment,
/// `**` across any number of them.
fn glob(pattern: &str, path: &str) -> bool {
    fn segments(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => segments(&p[1..], s) || (!s.is_empty() && segments(p, &s[1..])),
            (Some(pat), Some(seg)) => {
                segment(pat.as_bytes(), seg.as_bytes()) && segments(&p[1..], &s[1..])
            }
            _ => false,
        }
    }
    fn segment(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => segment(&p[1..], s) || (!s.is_empty() && segment(p, &s[1..])),
            (Some(a), Some(b)) => a == b && segment(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    segments(&p, &s)
}

#[test]
fn the_ignore_patterns_match_as_docker_matches_them() {
    assert!(glob("*", "host"));
    assert!(!glob("*", "host/src"));
    assert!(glob("**/target", "target"));
    assert!(glob("**/target", "bench/speed/target"));
    assert!(!glob("**/target", "bench/targets"));
    assert!(glob("host", "host"));
}

/// Git ignores these, so a checkout's file list never shows them, but a working tree has
/// them and `docker build` would send gigabytes of them.
#[test]
fn the_build_context_leaves_out_build_output_test_peers_and_data() {
    let patterns = ignore_patterns();
    for heavy in [
        "target/debug/switchyard",
        "bench/speed/target/release/x",
        "examples/lambda/rust/target/x",
        "tests/node/node_modules/pusher/index.js",
        "data/journal",
        "config/switchyard.toml",
    ] {
        assert!(
            !sent(&patterns, heavy),
            "{heavy} goes into the build context"
        );
    }
    assert!(sent(&patterns, "host/src/main.rs"));
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let dockerfile = deploy("docker/Dockerfile");
    tool("hadolint", &[dockerfile.to_str().unwrap()]);
}

/// The build stage copies only what the context has, and with exactly that, cargo finds a
/// whole workspace whose lock file needs no change (`--locked`, as the build runs it).
#[test]
fn the_build_context_holds_a_workspace_the_build_can_build() {
    let dockerfile = Dockerfile::load();
    let context = build_context();
    let workdir = tempfile::tempdir().unwrap();
    let sources = dockerfile.context_sources();
    assert!(!sources.is_empty());
    for (source, dest) in &sources {
        let files: Vec<&String> = context
            .iter()
            .filter(|f| Path::new(f).starts_with(source))
            .collect();
        assert!(!files.is_empty(), "COPY {source}: not in the build context");
        for file in files {
            // `COPY dir dest` copies the directory's contents into dest; `COPY file dest/`
            // puts the file into dest.
            let inside = Path::new(file).strip_prefix(source).unwrap();
            let to: PathBuf = if inside.as_os_str().is_empty() {
                workdir.path().join(dest).join(file)
            } else {
                workdir.path().join(dest).join(inside)
            };
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(repo_root().join(file), to).unwrap();
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let platform = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let manifest = workdir.path().join("Cargo.toml");
    let metadata = tool(
        &cargo,
        &[
            "metadata",
            "--locked",
            "--offline",
            "--format-version=1",
            "--filter-platform",
            &platform,
            "--manifest-path",
            manifest.to_str().unwrap(),
        ],
    );
    let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "switchyard" && p["source"].is_null())
        .expect("the context's workspace has the switchyard package");
    let binary = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"][0] == "bin" && t["name"] == "switchyard")
        .expect("the switchyard binary target");
    assert!(Path::new(binary["src_path"].as_str().unwrap()).is_file());
}

#[test]
fn the_compose_file_mounts_what_the_image_and_the_config_expect() {
    let dockerfile = Dockerfile::load();
    let compose = yaml(&deploy("docker/compose.yaml")).remove(0);
    let service = &compose["services"]["switchyard"];

    // The build is the Dockerfile's, from the repository root.
    let here = deploy("docker");
    let context = here.join(text(&service["build"]["context"], "build.context"));
    assert_eq!(
        context.canonicalize().unwrap(),
        repo_root().canonicalize().unwrap()
    );
    let built = context.join(text(&service["build"]["dockerfile"], "build.dockerfile"));
    assert_eq!(
        built.canonicalize().unwrap(),
        here.join("Dockerfile").canonicalize().unwrap()
    );

    // The entrypoint is the binary the build put in the image.
    let entrypoint = dockerfile.runtime_exec("ENTRYPOINT");
    let copied = dockerfile.copied_from_stages();
    let (_, stage) = copied
        .iter()
        .find(|(dest, _)| *dest == entrypoint[0])
        .unwrap_or_else(|| {
            panic!(
                "ENTRYPOINT {} is not copied from a build stage",
                entrypoint[0]
            )
        });
    assert!(
        dockerfile
            .stages
            .iter()
            .any(|s| s.name.as_ref() == Some(stage)),
        "no build stage {stage}"
    );

    // The config CMD names is in the directory mounted at /etc/switchyard.
    let (config_path, config_dir) = mounted_config(&dockerfile, service);
    let config = config(&config_dir.join(Path::new(&config_path).file_name().unwrap()));

    // The queue and the filter cache are on the image's volume, the only writable place
    // that outlives the container; compose mounts a named volume there.
    let volumes = dockerfile.runtime_exec("VOLUME");
    assert_eq!(volumes.len(), 1);
    let data = &volumes[0];
    for (table, key) in [("queue", "dir"), ("filters", "cache_dir")] {
        let path = resolve(&config_path, setting(&config, table, key));
        assert!(
            is_under(&path, data),
            "{table}.{key} {path} is not on the volume {data}"
        );
    }
    let mounts = compose_volumes(service);
    assert!(
        mounts
            .iter()
            .any(|(source, target)| target == data && !source.starts_with('.')),
        "compose mounts no named volume at {data}"
    );

    // The published port is the public listener, on every interface of the container; the
    // admin listener is on its loopback, neither exposed nor published.
    let (public, public_on_loopback) = listen(&config, "server");
    let (admin, admin_on_loopback) = listen(&config, "admin");
    assert!(
        !public_on_loopback,
        "a published port cannot reach a loopback listener"
    );
    assert!(
        admin_on_loopback,
        "the admin listener stays inside the container"
    );
    let exposed: Vec<u16> = dockerfile
        .runtime("EXPOSE")
        .iter()
        .flat_map(|e| e.split_whitespace())
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(exposed, [public]);
    let published: Vec<u16> = service["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| {
            text(p, "a port")
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(published, [public]);
    assert_ne!(admin, public);

    // `docker stop` must wait out the drain.
    let grace = text(&service["stop_grace_period"], "stop_grace_period");
    let grace: u64 = grace.strip_suffix('s').unwrap().parse().unwrap();
    assert!(
        grace > LANE_GRACE_SECS,
        "stop_grace_period {grace}s cuts the drain short"
    );
}

/// The compose service's volumes as (source, target).
fn compose_volumes(service: &yaml_rust2::Yaml) -> Vec<(String, String)> {
    service["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| {
            let mut parts = text(v, "a volume").split(':');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The config file CMD names, and the directory of this repository compose mounts where it
/// is (a directory, so replaced files reach the container).
fn mounted_config(dockerfile: &Dockerfile, service: &yaml_rust2::Yaml) -> (String, PathBuf) {
    let cmd = dockerfile.runtime_exec("CMD");
    let at = cmd
        .iter()
        .position(|a| a == "--config")
        .expect("CMD names --config");
    let config_path = cmd[at + 1].clone();
    let (source, target) = compose_volumes(service)
        .into_iter()
        .find(|(source, target)| source.starts_with('.') && is_under(&config_path, target))
        .unwrap_or_else(|| panic!("compose mounts nothing holding {config_path}"));
    assert_eq!(
        Path::new(&config_path).parent().unwrap(),
        Path::new(&target),
        "the config's directory is the mount, not a single-file mount"
    );
    (config_path, deploy("docker").join(source))
}

#[test]
fn the_config_passes_check_where_the_container_has_it() {
    let dockerfile = Dockerfile::load();
    let compose = yaml(&deploy("docker/compose.yaml")).remove(0);
    let (config_path, config_dir) = mounted_config(&dockerfile, &compose["services"]["switchyard"]);
    let config = config(&config_dir.join(Path::new(&config_path).file_name().unwrap()));
    Root::new().check_installed(&config_path, &config);
}

/// The image as compose runs it, stood in for by a container made with systemd-nspawn (see
/// [`Container`]; no engine here, so not the image itself): the binary at the `ENTRYPOINT`,
/// run with `CMD` as the Dockerfile's `USER` (who owns nothing but the volume), the config
/// directory mounted read-only where
/// compose mounts it (with the filter the config names, as docs/deploy.md has it prepared),
/// an empty volume of that user's at `VOLUME`, the config unchanged (its `0.0.0.0` listener
/// inside a network namespace that has only loopback).
#[test]
fn the_container_serves_as_the_images_user_with_the_compose_mounts() {
    let dockerfile = Dockerfile::load();
    let compose = yaml(&deploy("docker/compose.yaml")).remove(0);
    let service = &compose["services"]["switchyard"];
    let (config_path, config_dir) = mounted_config(&dockerfile, service);
    let config_file = Path::new(&config_path).file_name().unwrap();
    let config = config(&config_dir.join(config_file));
    let mount = Path::new(&config_path).parent().unwrap().to_str().unwrap();

    let mut container = Container::new(true);
    let etc = container.dir("config");
    std::fs::copy(config_dir.join(config_file), etc.join(config_file)).unwrap();
    for module in modules(&config) {
        let at = resolve(&config_path, &module);
        let file_name = Path::new(&at).file_name().unwrap().to_str().unwrap();
        let inside = etc.join(Path::new(&at).strip_prefix(mount).unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::copy(example_module(file_name), inside).unwrap();
    }
    container.bind(&etc, mount, true);
    let user: u32 = dockerfile.user_id().parse().unwrap();
    let data = dockerfile.runtime_exec("VOLUME").remove(0);
    container.volume(&data, user);
    let steps = Exercise {
        user,
        public_port: listen(&config, "server").0,
        health_path: "/healthz".into(),
        admin_port: listen(&config, "admin").0,
        config: config_path.clone(),
        data: data.clone(),
        configmap_update: false,
    };
    let mut entrypoint = dockerfile.runtime_exec("ENTRYPOINT");
    entrypoint.extend(dockerfile.runtime_exec("CMD"));
    let command = container.exercise(&steps, &entrypoint);
    let results = container.start(false, &command).finish();
    results.assert_served_and_drained(&steps, &config);
}
