#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine; quick when everything is there.
# Real peers only: Node.js receivers and Pusher's SDKs, the Lambda emulator, Redis, soketi.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi

# Guest filters build for the WebAssembly component target.
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Node peers: Pusher's server SDK (webhook validation) and the rest of tests/node/package.json.
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error)

# Pusher's Python SDK (validate_webhook checks the signature and time_ms).
python3 -c 'import pusher' 2>/dev/null || pip install --quiet --disable-pip-version-check pusher
