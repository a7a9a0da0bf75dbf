#!/usr/bin/env bash
# Shows whether each local test server is running and answering.
# Usage: scripts/cluster/status.sh [kafka|registry|cassandra ...]
# Exit status 0 when every listed server is running and answering, else 1.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

parse_servers "$@"
rc=0
ports_state() {
  local out="" p
  for p in "$@"; do
    if port_open "$p"; then out+=" :$p up"; else out+=" :$p DOWN"; fi
  done
  echo "$out"
}
rss_mb() {
  local kb
  kb="$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null)"
  [ -n "$kb" ] && echo "$(( kb / 1024 ))MB" || echo "?"
}
for s in "${SERVERS[@]}"; do
  pid="$(server_pids "$s" | head -n 1)"
  case "$s" in
    kafka) ports="$(ports_state "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT" "$KAFKA_TLS_PORT")"; ok=$([[ "$ports" != *DOWN* ]] && echo 1) ;;
    cassandra) ports="$(ports_state "$CASSANDRA_PORT")"; ok=$([[ "$ports" != *DOWN* ]] && echo 1) ;;
    registry)
      code="$(http_status "http://$HOST:$REGISTRY_PORT/health/ready")"
      ports="$(ports_state "$REGISTRY_PORT") /health/ready=$code"
      ok=$([ "$code" = 200 ] && echo 1) ;;
  esac
  if [ -n "$pid" ]; then
    state="running pid $pid rss $(rss_mb "$pid")"
  else
    state="not running"
  fi
  [ -n "$pid" ] && [ -n "${ok:-}" ] || rc=1
  printf '%-10s %-32s%s\n' "$s" "$state" "$ports"
done
[ -f "$CLUSTER_DIR/env" ] && echo "env file: $CLUSTER_DIR/env"
exit "$rc"
