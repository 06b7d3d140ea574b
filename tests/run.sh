#!/usr/bin/env bash
# Runs every test: unit, Node.js differential, guest filters, and end to end with real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
cargo nextest run --workspace --no-fail-fast "$@"
