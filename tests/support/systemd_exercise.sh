#!/bin/sh
# Runs as PID 1's only job in a systemd-nspawn container that tests/e2e/deploy/systemd.rs
# boots: installs and starts the gateway with docs/deploy.md's commands (from /deploy, the
# repository's deploy/systemd, and /built, the binary and filter built for the test), then
# uses it, reloads it, has a broken config refused and stops it with systemctl. Each step's
# output and exit code go to /results/<step>.out and .rc; the test judges them.
set -u
out=/results

record() {
  name=$1
  shift
  "$@" >"$out/$name.out" 2>&1
  echo $? >"$out/$name.rc"
}

# The receiver the example config delivers to (http://127.0.0.1:9000/hooks) starts first:
# installing starts the gateway. Each POST's body is written to /results/received.
python3 -c '
import http.server
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("/results/received", "ab") as f:
            f.write(self.path.encode() + b" " + body + b"\n")
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", 9000), Receiver).serve_forever()
' &

# docs/deploy.md's install commands (the test takes them from there): the sources mounted
# instead of built, and run as root already. `systemctl enable --now` starts the gateway,
# and with Type=notify returns once it said READY=1. (The container's /usr/local is an empty
# tmpfs over the host's, which is read-only here.)
mkdir -p /usr/local/bin
record install sh -ex /built/install.sh

get() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}

record state systemctl show switchyard -p ActiveState -p SubState -p StatusText
record healthz get http://127.0.0.1:7700/healthz
record status get http://127.0.0.1:7701/status
record send switchyard send --config /etc/switchyard/switchyard.toml --app app-1 \
  --event member_added --channel presence-lobby --user-id 7
for _ in $(seq 100); do [ -s "$out/received" ] && break; sleep 0.1; done

record reload systemctl reload switchyard
cp /etc/switchyard/switchyard.toml /run/good.toml
echo 'unknown_setting = 1' >>/etc/switchyard/switchyard.toml
record reload_broken systemctl reload switchyard
cp /run/good.toml /etc/switchyard/switchyard.toml
record still_active systemctl is-active switchyard

record stop systemctl stop switchyard
record stopped systemctl show switchyard -p Result -p ExecMainCode -p ExecMainStatus
journalctl -u switchyard --no-pager -o cat >"$out/journal" 2>&1
touch "$out/done"
