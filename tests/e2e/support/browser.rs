//! A browser script (tests/console/NAME.mjs): Node.js with playwright-core driving Debian's
//! chromium against the console. The script stops at checkpoints (`@checkpoint NAME` on its
//! stdout) until the test has done its part and says go on (a line on its stdin).

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ChildGuard, repo_root};

/// How long a script may take to reach its next checkpoint or its end: it starts chromium,
/// and each of its waits has its own deadline within this.
const SCRIPT_PATIENCE: Duration = Duration::from_secs(180);

/// A running browser script; killed (with its chromium) when dropped.
pub struct BrowserScript {
    name: String,
    child: ChildGuard,
    stdin: ChildStdin,
    checkpoints: Receiver<String>,
    output: Arc<Mutex<Vec<String>>>,
}

impl BrowserScript {
    /// Starts `node tests/console/<name>.mjs` with `env` (CONSOLE_URL and the rest).
    pub fn start(name: &str, env: &[(&str, &str)]) -> BrowserScript {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&chromium).exists(),
            "{chromium} is missing: tests/setup.sh installs Debian's chromium"
        );
        let script = repo_root().join(format!("tests/console/{name}.mjs"));
        let mut child = Command::new("node")
            .arg(&script)
            .envs(env.iter().copied())
            .env("CHROMIUM", &chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node must be installed (tests/run.sh installs it)");
        let stdin = child.stdin.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, checkpoints) = channel();
        let stdout = child.stdout.take().unwrap();
        let lines = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(name) = line.strip_prefix("@checkpoint ") {
                    let _ = tx.send(name.to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let lines = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        BrowserScript {
            name: name.to_owned(),
            child: ChildGuard(child),
            stdin,
            checkpoints,
            output,
        }
    }

    /// Waits until the script reaches `checkpoint` (it waits there until [`Self::go_on`]).
    pub fn reached(&mut self, checkpoint: &str) {
        match self.checkpoints.recv_timeout(SCRIPT_PATIENCE) {
            Ok(name) if name == checkpoint => {}
            Ok(name) => self.fail(&format!("reached {name}, not {checkpoint}")),
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("did not reach {checkpoint} in time"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                // The script ended: let its exit status and output say why.
                let status = self.child.0.wait().unwrap();
                self.fail(&format!("ended ({status}) before {checkpoint}"))
            }
        }
    }

    /// Lets the script go on from its checkpoint.
    pub fn go_on(&mut self) {
        writeln!(self.stdin, "go").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the script to end; it must succeed.
    pub fn finish(mut self) {
        let deadline = Instant::now() + SCRIPT_PATIENCE;
        loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                if !status.success() {
                    self.fail(&format!("failed ({status})"));
                }
                return;
            }
            if Instant::now() > deadline {
                self.fail("did not end in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn fail(&self, what: &str) -> ! {
        // The reader threads may still hold the last lines: a moment for them.
        std::thread::sleep(Duration::from_millis(200));
        panic!(
            "browser script {} {what}; its output:\n{}",
            self.name,
            self.output.lock().unwrap().join("\n")
        );
    }
}
