//! Stand-ins for a container, a pod and a host, made with systemd-nspawn (there is no container
//! engine, kubelet or booted systemd here, but nspawn runs): this machine's /usr read-only
//! under a fresh tmpfs root, a network namespace whose only interface is loopback (so an
//! example's `0.0.0.0` listener is reachable from nowhere else), and the example's files
//! bound where the example mounts them. A script inside does the steps and leaves each one's
//! output and exit code in /results for the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{resolve, setting};
use crate::support::{PATIENCE, binary, repo_root};

/// What a container is made of, before it runs.
pub(super) struct Container {
    work: tempfile::TempDir,
    args: Vec<String>,
    machine: String,
}

impl Container {
    /// `only_volumes_writable`: a user other than root can write nowhere but the volumes
    /// bound in (as in a pod with `readOnlyRootFilesystem`, or an image whose user owns only
    /// its volume): the tmpfs root is root's, and /tmp is made root's too. Else /tmp is the
    /// usual one (a host being installed on). Either way /usr/local is an empty tmpfs, where
    /// the binary goes.
    pub(super) fn new(only_volumes_writable: bool) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let machine = format!(
            "switchyard-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut container = Self {
            work: tempfile::tempdir().unwrap(),
            args: [
                "--quiet",
                "--directory=/",
                // No machined or booted systemd here to register with.
                "--register=no",
                "--keep-unit",
                "--volatile=yes",
                "--private-network",
                "--console=pipe",
                "--tmpfs=/usr/local",
            ]
            .map(String::from)
            .to_vec(),
            machine,
        };
        container
            .args
            .push(format!("--machine={}", container.machine));
        if only_volumes_writable {
            container.args.push("--tmpfs=/tmp:mode=0755".into());
        }
        std::fs::create_dir(container.results()).unwrap();
        container.bind(&container.results(), "/results", false);
        container
    }

    /// A directory of this test, created empty.
    pub(super) fn dir(&self, name: &str) -> PathBuf {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Where the steps leave their results.
    pub(super) fn results(&self) -> PathBuf {
        self.work.path().join("results")
    }

    /// Mounts `from` (of this machine) at `at` inside.
    pub(super) fn bind(&mut self, from: &Path, at: &str, read_only: bool) {
        let flag = if read_only { "--bind-ro" } else { "--bind" };
        self.args.push(format!("{flag}={}:{at}", from.display()));
    }

    /// A directory of `uid`'s, empty, mounted writable at `at`: a volume, a claim.
    pub(super) fn volume(&mut self, at: &str, uid: u32) -> PathBuf {
        let dir = self.dir(&format!("volume{}", at.replace('/', "-")));
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap();
        self.bind(&dir, at, false);
        dir
    }

    /// A directory for what the test built or wrote (mounted at /built), holding the binary.
    pub(super) fn built(&mut self) -> PathBuf {
        let built = self.dir("built");
        std::fs::copy(binary(), built.join("switchyard")).unwrap();
        self.bind(&built, "/built", true);
        built
    }

    /// The binary built here mounted at `at` (where an image has it), and the exercise
    /// script in /built; the command line that runs the script on `entrypoint` (the image's
    /// entrypoint and arguments): see tests/support/container_exercise.sh.
    pub(super) fn exercise(&mut self, steps: &Exercise, entrypoint: &[String]) -> Vec<String> {
        let built = self.built();
        std::fs::copy(
            repo_root().join("tests/support/container_exercise.sh"),
            built.join("container_exercise.sh"),
        )
        .unwrap();
        self.bind(&built.join("switchyard"), &entrypoint[0], true);
        let mut command: Vec<String> = [
            "/bin/sh",
            "/built/container_exercise.sh",
            &steps.user.to_string(),
            &format!(
                "http://127.0.0.1:{}{}",
                steps.public_port, steps.health_path
            ),
            &format!("http://127.0.0.1:{}/status", steps.admin_port),
            &steps.config,
            &steps.data,
            if steps.configmap_update { "swap" } else { "-" },
            "--",
        ]
        .map(String::from)
        .to_vec();
        command.extend_from_slice(entrypoint);
        command
    }

    /// Starts the container running `command` (a program and its arguments), or booting
    /// systemd with `command` as kernel command line arguments when `boot`.
    pub(super) fn start(mut self, boot: bool, command: &[String]) -> Running {
        if boot {
            self.args.push("--boot".into());
        }
        let child = Command::new("timeout")
            .args(["--kill-after=20", "180", "systemd-nspawn"])
            .args(&self.args)
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("timeout and systemd-nspawn (tests/setup.sh installs systemd-container)");
        Running {
            child: Some(child),
            container: Some(self),
        }
    }
}

/// A container running.
pub(super) struct Running {
    child: Option<Child>,
    container: Option<Container>,
}

impl Running {
    /// Leaves `file` in /results, for a step waiting on the test.
    pub(super) fn tell(&self, file: &str) {
        std::fs::write(self.container().results().join(file), "").unwrap();
    }

    fn container(&self) -> &Container {
        self.container.as_ref().unwrap()
    }

    /// Waits until a step leaves `file` in /results.
    pub(super) fn wait_for(&self, file: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.container().results().join(file).exists() {
            assert!(
                Instant::now() < deadline,
                "the container never wrote {file}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the container to end; what its steps left.
    pub(super) fn finish(mut self) -> Results {
        let out = self.child.take().unwrap().wait_with_output().unwrap();
        let console = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let container = self.container.take().unwrap();
        container.clean_up();
        Results {
            dir: container.results(),
            console,
            _container: container,
        }
    }
}

impl Drop for Running {
    /// A failing test still stops the container: SIGTERM (which `timeout` passes on) makes
    /// nspawn shut it down, where SIGKILL would leave it running without nspawn.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        if let Some(container) = &self.container {
            container.clean_up();
        }
    }
}

impl Container {
    /// nspawn leaves its propagation directory behind when /run is not a tmpfs (as here).
    fn clean_up(&self) {
        let _ = std::fs::remove_dir_all(format!("/run/systemd/nspawn/propagate/{}", self.machine));
    }
}

/// What the steps in a container left in /results.
pub(super) struct Results {
    dir: PathBuf,
    console: String,
    _container: Container,
}

impl Results {
    /// A file the steps wrote, or "" if there is none.
    pub(super) fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// The exit code and output of `step`.
    pub(super) fn step(&self, step: &str) -> (String, String) {
        match (
            std::fs::read_to_string(self.dir.join(format!("{step}.rc"))),
            std::fs::read_to_string(self.dir.join(format!("{step}.out"))),
        ) {
            (Ok(rc), Ok(out)) => (rc.trim().to_owned(), out),
            _ => panic!(
                "the container never ran {step}; its console:\n{}\nlogs:\n{}",
                self.console,
                self.logs()
            ),
        }
    }

    /// The output of `step`, which must have succeeded.
    pub(super) fn ok(&self, step: &str) -> String {
        let (rc, out) = self.step(step);
        assert_eq!(rc, "0", "{step} failed:\n{out}\nlogs:\n{}", self.logs());
        out
    }

    /// The gateway's log (its journal or its stderr).
    pub(super) fn logs(&self) -> String {
        self.file("journal") + &self.file("gateway.log")
    }
}

/// What tests/support/container_exercise.sh needs to know of an example.
pub(super) struct Exercise {
    /// The image's (the pod's) user.
    pub user: u32,
    pub public_port: u16,
    /// The liveness probe's path.
    pub health_path: String,
    pub admin_port: u16,
    /// The config file, as the container sees it.
    pub config: String,
    /// The data mount.
    pub data: String,
    /// Whether to wait, after the first checks, for the test to update a ConfigMap and for
    /// the filter module's hash in /status to change.
    pub configmap_update: bool,
}

impl Results {
    /// The checks every example's container passes: up and answering its probes as
    /// the image's user, who can write nothing but the volumes; an event accepted; a clean
    /// drain on SIGTERM; and the data mount holding the config's `queue.dir` and
    /// `filters.cache_dir`, created by that user.
    pub(super) fn assert_served_and_drained(&self, steps: &Exercise, config: &toml::Table) {
        assert_eq!(self.ok("healthz").trim(), "ok");
        assert_eq!(self.ok("readyz").trim(), "ready");
        let user = self.ok("user");
        let uid = steps.user;
        assert!(user.contains(&format!("Uid:\t{uid}\t{uid}")), "{user}");
        assert!(self.ok("send").contains("answered 200"), "{}", self.logs());
        assert_eq!(
            self.ok("writable"),
            "",
            "the user can write outside its volumes"
        );
        assert_eq!(
            self.file("exit.rc").trim(),
            "0",
            "exit; logs:\n{}",
            self.logs()
        );
        assert!(self.logs().contains("drained"), "{}", self.logs());
        let data = self.file("data.out");
        for (table, key) in [("queue", "dir"), ("filters", "cache_dir")] {
            let path = resolve(&steps.config, setting(config, table, key));
            let dir = Path::new(&path).strip_prefix(&steps.data).unwrap();
            let line = format!("{uid} {}", dir.display());
            assert!(
                data.lines().any(|l| l == line),
                "{table}.{key}: no {line:?} in {data}"
            );
        }
    }
}
