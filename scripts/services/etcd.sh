#!/usr/bin/env bash
# etcd.sh start|stop|env — a throwaway single-member etcd on 127.0.0.1 for the test suites.
#   start  idempotent; exit 3 when etcd is not installed
#          (apt-get install -y --no-install-recommends etcd-server)
#   stop   kills the server and removes its state
#   env    prints HADB_TEST_ETCD_URL=... while the server is up (exit 1 otherwise)
# State lives under ${HADB_SERVICES_DIR:-/tmp/hadb-services}/etcd. Ports: HADB_ETCD_PORT (2379),
# HADB_ETCD_PEER_PORT (2380).
set -euo pipefail
D="${HADB_SERVICES_DIR:-/tmp/hadb-services}/etcd"
PORT=${HADB_ETCD_PORT:-2379}
PEER=${HADB_ETCD_PEER_PORT:-2380}
URL="http://127.0.0.1:$PORT"

# The pid of our server, if it is alive (a process that matches the pid file and is not a zombie).
pid() {
  local p state
  p=$(cat "$D/etcd.pid" 2>/dev/null) || return 1
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = etcd ] || return 1
  state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo Z)
  [ "$state" != Z ] && echo "$p"
}
ready() { curl -sf -m 1 "$URL/health" 2>/dev/null | grep -q '"health":"true"'; }

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
  command -v etcd >/dev/null 2>&1 || {
    echo "etcd is not installed (apt-get install -y --no-install-recommends etcd-server)" >&2
    exit 3
  }
  if pid >/dev/null && ready; then return 0; fi
  stop
  mkdir -p "$D"
  # Debian's etcd 3.4 on arm64 needs this; harmless elsewhere.
  [ "$(uname -m)" = aarch64 ] && export ETCD_UNSUPPORTED_ARCH=arm64
  setsid etcd --name hadb-test --data-dir "$D/data" \
    --listen-client-urls "$URL" --advertise-client-urls "$URL" \
    --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
    --initial-cluster "hadb-test=http://127.0.0.1:$PEER" --initial-cluster-state new \
    --logger zap --log-outputs "$D/etcd.log" </dev/null >/dev/null 2>&1 &
  echo $! >"$D/etcd.pid"
  for _ in $(seq 200); do ready && break; sleep 0.05; done
  ready || { echo "etcd did not become ready, see $D/etcd.log" >&2; exit 1; }
}

env_() {
  pid >/dev/null && ready || { echo "etcd is not running (run: $0 start)" >&2; exit 1; }
  echo "HADB_TEST_ETCD_URL=$URL"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) env_ ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
