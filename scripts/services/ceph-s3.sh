#!/usr/bin/env bash
# ceph-s3.sh start|stop|env — a throwaway single-node Ceph RGW (S3 with atomic conditional writes) on
# 127.0.0.1 for the test suites: 1 mon + 1 memstore OSD + radosgw, no mgr, RADOS auth off (S3 requests
# are still SigV4-signed against an RGW user). Debian bookworm ships Ceph 16.2 (Pacific).
#   start  idempotent; exit 3 when the Ceph binaries are not installed
#          (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw); progress on stderr
#   stop   kills the daemons and removes their state (data lives in RAM: memstore)
#   env    prints HADB_TEST_S3_* lines while the server is up (exit 1 otherwise)
# State lives under ${HADB_SERVICES_DIR:-/tmp/hadb-services}/ceph-s3. Ports: HADB_CEPH_RGW_PORT (7480),
# HADB_CEPH_MON_PORT (6789); the OSD takes ports from 6800 up.
set -euo pipefail
D="${HADB_SERVICES_DIR:-/tmp/hadb-services}/ceph-s3"
RGW_PORT=${HADB_CEPH_RGW_PORT:-7480}
MON_PORT=${HADB_CEPH_MON_PORT:-6789}
MEM_BYTES=${HADB_CEPH_MEMSTORE_BYTES:-2147483648}
BUCKET=hadb-test
REGION=us-east-1
AK=HADBLOCALTESTKEY0000
SK=hadb-local-test-secret-not-a-real-credential
C=(-c "$D/ceph.conf")

log() { echo "[ceph-s3] $*" >&2; }

# PIDs from our pid files that are still Ceph daemons (guards against PID reuse). Where PID 1 does not
# reap orphans a killed daemon stays <defunct>: state Z counts as dead.
pids() {
  local p state
  for p in $(cat "$D"/run/*.pid 2>/dev/null); do
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in
      ceph-mon | ceph-osd | radosgw)
        state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo Z)
        [ "$state" != Z ] && echo "$p"
        ;;
    esac
  done
  return 0
}
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$RGW_PORT/" 2>/dev/null)" = 200 ]; }

# Signed, bodiless S3 request with curl's built-in SigV4 (curl >= 7.75). RGW requires the payload hash
# header, which curl 7.88 does not add by itself (the value is the SHA-256 of the empty body).
# Prints the HTTP status.
s3() {
  curl -s -o /dev/null -w '%{http_code}' -m 10 --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' "$@"
}

stop() {
  local p
  for p in $(pids); do kill -9 "$p" 2>/dev/null || true; done # throwaway data: no graceful shutdown
  for _ in $(seq 50); do
    [ -z "$(pids)" ] && break
    sleep 0.1
  done
  [ -z "$(pids)" ] || { log "daemons did not exit: $(pids)"; exit 1; }
  rm -rf "$D"
}

write_conf() {
  local fsid=$1
  cat >"$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$MON_PORT
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
public_network = 127.0.0.0/8
cluster_network = 127.0.0.0/8
ms_bind_ipv6 = false
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
pid_file = $D/run/\$name.pid
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# Small CI disks: the mon refuses to run below 5 % free space by default.
mon_data_avail_crit = 0
mon_data_avail_warn = 1
# Each pool RGW creates waits for a Paxos proposal (default interval 1 s: ~10 s start instead of ~2 s).
paxos_propose_interval = 0.05
[mon]
mon_data = $D/mon
[osd]
osd_data = $D/osd0
osd_objectstore = memstore
memstore_device_bytes = $MEM_BYTES
# The OSD's create-or-move at boot can race the fsid ("wrong fsid"); the crush entry is added by hand.
osd_crush_update_on_start = false
osd_class_update_on_start = false
[client.rgw.a]
# tcp_nodelay: without it small GET responses (headers and body written separately) wait for the
# client's delayed ACK: ~50 ms per small GET instead of ~4 ms.
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw_data = $D/rgw
rgw_thread_pool_size = 128
# Reclaim the tails of deleted large objects within seconds (default: 2 h), so memstore stays small.
rgw_gc_obj_min_wait = 10
rgw_gc_processor_period = 10
rgw_gc_processor_max_time = 10
CONF
}

start() {
  local b
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
    command -v "$b" >/dev/null 2>&1 || {
      log "$b is not installed (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw)"
      exit 3
    }
  done
  command -v curl >/dev/null 2>&1 || { log "curl is not installed"; exit 3; }
  if [ -f "$D/ready" ] && [ -n "$(pids)" ] && ready; then
    log "already running on 127.0.0.1:$RGW_PORT"
    return 0
  fi
  stop
  if ready; then
    log "something else already answers on 127.0.0.1:$RGW_PORT (not ours: no state in $D)"
    exit 1
  fi
  local t0 fsid osd_uuid
  t0=$(date +%s.%N)
  mkdir -p "$D"/{mon,osd0,run,log,rgw}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  log "starting mon"
  # --addv with an explicit v1 address: `--add a 127.0.0.1:PORT` makes any port but 6789 a msgr2 (v2)
  # address, which this msgr1-only mon (ms_bind_msgr2 = false) never binds, so a non-default
  # HADB_CEPH_MON_PORT used to hang every client.
  monmaptool --create --addv a "[v1:127.0.0.1:$MON_PORT]" --fsid "$fsid" "$D/monmap" >/dev/null
  ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" </dev/null >/dev/null 2>>"$D/log/setup.log"
  ceph-mon "${C[@]}" -i a </dev/null >/dev/null 2>>"$D/log/setup.log" # daemonizes
  log "starting osd"
  timeout 60 ceph "${C[@]}" --connect-timeout 30 osd new "$osd_uuid" </dev/null >/dev/null 2>>"$D/log/setup.log"
  timeout 60 ceph "${C[@]}" --connect-timeout 30 osd crush add osd.0 1.0 root=default \
    </dev/null >/dev/null 2>>"$D/log/setup.log"
  ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" </dev/null >/dev/null 2>>"$D/log/setup.log"
  ceph-osd "${C[@]}" -i 0 </dev/null >/dev/null 2>>"$D/log/setup.log" # daemonizes
  log "starting radosgw"
  radosgw "${C[@]}" -n client.rgw.a </dev/null >/dev/null 2>>"$D/log/setup.log" # daemonizes; creates its pools
  for _ in $(seq 300); do
    ready && break
    sleep 0.2
  done
  ready || { log "radosgw did not become ready; see $D/log"; exit 1; }
  timeout 60 radosgw-admin "${C[@]}" user create --uid=hadb-test --display-name=hadb-test \
    --access-key="$AK" --secret-key="$SK" </dev/null >/dev/null 2>>"$D/log/setup.log" ||
    timeout 60 radosgw-admin "${C[@]}" user info --uid=hadb-test </dev/null >/dev/null 2>>"$D/log/setup.log"
  local code
  code=$(s3 -X PUT "http://127.0.0.1:$RGW_PORT/$BUCKET")
  case "$code" in
    200 | 409) ;;
    *) log "creating bucket $BUCKET failed (HTTP $code); see $D/log"; exit 1 ;;
  esac
  touch "$D/ready"
  log "ready on http://127.0.0.1:$RGW_PORT (bucket $BUCKET) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

env_() {
  [ -f "$D/ready" ] && ready || { log "not running (run: $0 start)"; exit 1; }
  echo "HADB_TEST_S3_ENDPOINT=http://127.0.0.1:$RGW_PORT"
  echo "HADB_TEST_S3_BUCKET=$BUCKET"
  echo "HADB_TEST_S3_ACCESS_KEY_ID=$AK"
  echo "HADB_TEST_S3_SECRET_ACCESS_KEY=$SK"
  echo "HADB_TEST_S3_REGION=$REGION"
  # Ceph RGW <= 16 compares If-Match on PUT against the bare etag: send it without quotes.
  echo "HADB_TEST_S3_UNQUOTED_IF_MATCH=1"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) env_ ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
