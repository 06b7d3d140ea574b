#!/usr/bin/env bash
# Runs every test: unit, Node.js differential, guest filters, and end to end with real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
# The Rust Lambda example is a workspace of its own (see the root Cargo.toml).
cargo test --quiet --manifest-path examples/lambda/rust/Cargo.toml
# The JavaScript SDK and the JS/TS examples: their own tests, natively, with Node's runner.
(cd guest-filters && npm test --workspaces --silent)
cargo nextest run --workspace --no-fail-fast "$@"
