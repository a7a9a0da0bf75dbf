#!/usr/bin/env bash
# Stops the local test servers started by up.sh: SIGTERM (graceful: Kafka's
# controlled shutdown, Cassandra's drain), then SIGKILL after a timeout.
# Usage: scripts/cluster/down.sh [kafka|registry|cassandra|opensearch ...]
# (default: all of them, the optional OpenSearch included)
# Idempotent; data under .cluster/ is kept (rm -rf .cluster to start afresh).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

parse_servers "$@"
[ "$SERVERS_NAMED" = 1 ] || SERVERS+=("${OPTIONAL_SERVERS[@]}")

stop_timeout() {
  case "$1" in
    kafka) echo "${KAFKA_STOP_TIMEOUT:-60}" ;;
    registry) echo "${REGISTRY_STOP_TIMEOUT:-30}" ;;
    cassandra) echo "${CASSANDRA_STOP_TIMEOUT:-90}" ;;
    opensearch) echo "${OPENSEARCH_STOP_TIMEOUT:-60}" ;;
  esac
}

stop_server() {
  local name="$1" pids t0 limit
  pids="$(server_pids "$name" | tr '\n' ' ')"
  if [ -z "${pids// /}" ]; then
    log "$name: not running"
    rm -f "$CLUSTER_DIR/$name/$name.pid"
    return 0
  fi
  t0=$(now_ms)
  limit=$(( t0 + $(stop_timeout "$name") * 1000 ))
  log "$name: stopping (pid ${pids% })"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  while server_running "$name"; do
    if [ "$(now_ms)" -gt "$limit" ]; then
      warn "$name: still running after $(stop_timeout "$name")s; sending SIGKILL"
      pids="$(server_pids "$name" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      [ -n "${pids// /}" ] && kill -KILL $pids 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.3
  done
  if server_running "$name"; then
    die "$name: could not stop pid $(server_pids "$name" | tr '\n' ' ')"
  fi
  rm -f "$CLUSTER_DIR/$name/$name.pid"
  log "$name: stopped in $(elapsed_s "$t0")s"
}

# The env file names OpenSearch only while it runs (up.sh adds it back).
forget_opensearch() {
  local f="$CLUSTER_DIR/env"
  [ -f "$f" ] && grep -q '^OPENSEARCH_URL=' "$f" || return 0
  grep -v '^OPENSEARCH_URL=' "$f" > "$f.tmp" && mv "$f.tmp" "$f"
}

# Stop in parallel: each shutdown mostly waits on its own JVM.
declare -A JOBS=()
for s in "${SERVERS[@]}"; do
  ( stop_server "$s" ) &
  JOBS[$s]=$!
done
rc=0
for s in "${SERVERS[@]}"; do
  if wait "${JOBS[$s]}"; then
    [ "$s" = opensearch ] && forget_opensearch
  else
    rc=1
  fi
done
exit "$rc"
