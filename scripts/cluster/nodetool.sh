#!/usr/bin/env bash
# Cassandra's nodetool against the local node (JMX on 127.0.0.1:7199), e.g.
#   scripts/cluster/nodetool.sh status
#   scripts/cluster/nodetool.sh flush tideflow
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
ensure_tools
prepare_classpath cassandra
opts=()
# Only the module flags of the server's options (no GC/heap/server tuning).
mapfile -t opts < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$CLUSTER_SCRIPTS/cassandra/jvm.options" \
  | grep -E '^(--add-(exports|opens)=|-Djdk.attach)')
mkdir -p "$CLUSTER_DIR/cassandra/logs"
exec "$JAVA" -Xmx256m "${opts[@]}" \
  -Dcassandra.logdir="$CLUSTER_DIR/cassandra/logs" \
  -Dlogback.configurationFile="$CLUSTER_SCRIPTS/cassandra/logback-tools.xml" \
  -cp "$(cat "$CLUSTER_LIB/cassandra.classpath")" \
  org.apache.cassandra.tools.NodeTool -h "$HOST" -p "$CASSANDRA_JMX_PORT" "$@"
