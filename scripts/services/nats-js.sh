#!/usr/bin/env bash
# nats-js.sh start|stop|env — a throwaway nats-server with JetStream on 127.0.0.1 for the test suites.
#   start  idempotent; exit 3 when nats-server is not installed
#          (apt-get install -y --no-install-recommends nats-server)
#   stop   kills the server and removes its state
#   env    prints HADB_TEST_NATS_URL=... while the server is up (exit 1 otherwise)
# State lives under ${HADB_SERVICES_DIR:-/tmp/hadb-services}/nats-js. Ports: HADB_NATS_PORT (4222),
# HADB_NATS_MON_PORT (8222).
set -euo pipefail
D="${HADB_SERVICES_DIR:-/tmp/hadb-services}/nats-js"
PORT=${HADB_NATS_PORT:-4222}
MPORT=${HADB_NATS_MON_PORT:-8222}
URL="nats://127.0.0.1:$PORT"

# The pid of our server, if it is alive (a process that matches the pid file and is not a zombie).
pid() {
  local p state
  p=$(cat "$D/nats.pid" 2>/dev/null) || return 1
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = nats-server ] || return 1
  state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo Z)
  [ "$state" != Z ] && echo "$p"
}
ready() { curl -sf -m 1 "http://127.0.0.1:$MPORT/healthz?js-enabled-only=true" >/dev/null 2>&1; }

stop() {
  local p
  if p=$(pid); then
    kill "$p" 2>/dev/null || true
    # Where PID 1 does not reap orphans a dead server stays <defunct>: treat state Z as gone.
    for _ in $(seq 100); do
      [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo Z)" = Z ] && break
      sleep 0.05
    done
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo Z)" = Z ] || kill -9 "$p" 2>/dev/null || true
  fi
  rm -rf "$D"
}

start() {
  command -v nats-server >/dev/null 2>&1 || {
    echo "nats-server is not installed (apt-get install -y --no-install-recommends nats-server)" >&2
    exit 3
  }
  if pid >/dev/null && ready; then return 0; fi
  stop
  mkdir -p "$D"
  setsid nats-server -a 127.0.0.1 -p "$PORT" -m "$MPORT" -js -sd "$D/store" -P "$D/nats.pid" -l "$D/nats.log" \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 200); do ready && break; sleep 0.05; done
  ready || { echo "nats-server did not become ready, see $D/nats.log" >&2; exit 1; }
}

env_() {
  pid >/dev/null && ready || { echo "nats-server is not running (run: $0 start)" >&2; exit 1; }
  echo "HADB_TEST_NATS_URL=$URL"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) env_ ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
