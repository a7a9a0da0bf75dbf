#!/usr/bin/env bash
# Shows whether each local test server is running and answering.
# Usage: scripts/cluster/status.sh [kafka|registry|cassandra|opensearch ...]
# Exit status 0 when every listed server is running and answering, else 1.
# Unnamed, the optional OpenSearch is shown but does not count for the exit status.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

parse_servers "$@"
[ "$SERVERS_NAMED" = 1 ] || SERVERS+=("${OPTIONAL_SERVERS[@]}")
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
    opensearch)
      code="$(http_status "http://$HOST:$OPENSEARCH_PORT/_cluster/health?wait_for_status=yellow&timeout=1s")"
      ports="$(ports_state "$OPENSEARCH_PORT" "$OPENSEARCH_TRANSPORT_PORT") /_cluster/health=$code"
      ok=$([ "$code" = 200 ] && echo 1) ;;
  esac
  if [ -n "$pid" ]; then
    state="running pid $pid rss $(rss_mb "$pid")"
    [ "$s" = kafka ] && [ -s "$CLUSTER_DIR/kafka/version" ] && state+=" $(cat "$CLUSTER_DIR/kafka/version")"
  else
    state="not running"
  fi
  optional=""
  if [ "$SERVERS_NAMED" = 0 ] && [ "$s" = opensearch ]; then
    optional=" (optional)"
  else
    [ -n "$pid" ] && [ -n "${ok:-}" ] || rc=1
  fi
  printf '%-10s %-38s%s%s\n' "$s" "$state" "$ports" "$optional"
done
[ -f "$CLUSTER_DIR/env" ] && echo "env file: $CLUSTER_DIR/env"
exit "$rc"
