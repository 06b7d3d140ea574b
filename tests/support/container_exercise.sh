#!/bin/sh
# Runs as the command of a systemd-nspawn container that tests/e2e/deploy/ sets up to stand in
# for an example's container or pod (its mounts, its user, its entrypoint and arguments): starts
# the gateway exactly as the example would, probes it, sends it an event, optionally waits
# while the test updates a mounted ConfigMap and watches the filter reload, then stops it with
# SIGTERM. Each step's output and exit code go to /results/<step>.out and .rc.
#
# Arguments: USER_ID HEALTH_URL STATUS_URL CONFIG DATA_DIR SWAP -- ENTRYPOINT ARGS...
# (SWAP is `swap` to wait for a ConfigMap update, anything else not to.)
set -u
out=/results
uid=$1 health=$2 status=$3 config=$4 data=$5 swap=$6
shift 7

record() {
  name=$1
  shift
  "$@" >"$out/$name.out" 2>&1
  echo $? >"$out/$name.rc"
}

get() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}

module_hash() {
  get "$status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["apps"][0]["webhooks"][0]["filters"][0]["module_hash"])'
}

as_user() {
  setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
}

# The image's user, the image's entrypoint and arguments. A simple command, not the
# function, so that $! is the gateway (setpriv execs it) rather than a subshell.
setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@" 2>"$out/gateway.log" &
gateway=$!
for _ in $(seq 300); do get "$health" >/dev/null 2>&1 && break; sleep 0.1; done

record healthz get "$health"
# The readiness probe's path, beside the liveness one on the public listener.
record readyz get "${health%/healthz}/readyz"
record user grep -E '^(Uid|Gid):' "/proc/$gateway/status"
# Where the gateway's user could write besides the mounted volumes: nowhere, it must be.
record writable as_user sh -c 'for d in / /etc /var /tmp /usr/local /run /root; do
  if [ -w "$d" ]; then echo "$d"; fi
done'
record send as_user /usr/local/bin/switchyard send --config "$config" --app app-1 \
  --event member_added --channel presence-lobby --user-id 7

if [ "$swap" = swap ]; then
  record hash_before module_hash
  touch "$out/ready_for_update"
  for _ in $(seq 300); do [ -e "$out/updated" ] && break; sleep 0.1; done
  before=$(cat "$out/hash_before.out")
  for _ in $(seq 300); do
    [ "$(module_hash 2>/dev/null)" != "$before" ] && break
    sleep 0.1
  done
  record hash_after module_hash
fi

kill -TERM "$gateway"
wait "$gateway"
echo $? >"$out/exit.rc"
# What the gateway wrote on the data mount, and as whom.
find "$data" -mindepth 1 -maxdepth 1 -printf '%U %f\n' | sort >"$out/data.out"
touch "$out/done"
