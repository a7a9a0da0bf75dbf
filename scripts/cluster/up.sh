#!/usr/bin/env bash
# Starts the local test servers on 127.0.0.1 from Maven Central artifacts:
#   kafka      Apache Kafka 4.4 (KRaft)  PLAINTEXT :9092, controller :9093, SASL_PLAINTEXT :9094 and SASL_SSL :9095 (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
#   registry   Apicurio Registry 3.0     :8081, Confluent-compatible API at /apis/ccompat/v7
#   cassandra  Apache Cassandra 5.0      CQL :9042 (TLS optional)
# and, only when named, the optional
#   opensearch OpenSearch 2.19           HTTP :9200, transport :9300
# Usage: scripts/cluster/up.sh [kafka|registry|cassandra|opensearch ...]   (default: kafka registry cassandra)
# Idempotent: servers already running from this checkout are left alone.
# Data and logs: .cluster/<server>/; connection settings: .cluster/env.
# A second, private cluster: CLUSTER_NAME=faults PORT_OFFSET=100 scripts/cluster/up.sh
# (state in .cluster-faults/, every port + 100; down.sh/status.sh take the same variables).
# Kafka 3.x instead of the default 4.x: KAFKA_VERSION=3.9.2 (best in a cluster of its own: 4.x data cannot go back to 3.x).
# Cassandra with logins required (user cassandra, password cassandra): CASSANDRA_AUTHENTICATOR=PasswordAuthenticator.
# Kafka with extra PLAINTEXT listeners advertised at a proxy's port: KAFKA_EXTRA_LISTENERS=CUT=9396:41234 (see lib.sh).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

parse_servers "$@"
ensure_tools
UP_T0=$(now_ms)

declare -A STARTED_AT=()   # server -> start time (ms), for freshly started ones
declare -A LOG_OFFSET=()   # server -> size of its main log before this start

check_port_free() {
  local name="$1" port
  shift
  for port in "$@"; do
    if port_open "$port"; then
      local who=""
      command -v ss >/dev/null 2>&1 && who="$(ss -H -ltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:(\(.*\))/\1/p' | head -n 1)"
      die "$name: port $HOST:$port is already in use by another process${who:+ ($who)}, not one started from $CLUSTER_DIR; stop it first"
    fi
  done
}

file_size() { [ -f "$1" ] && stat -c %s "$1" || echo 0; }

# Does FILE contain TEXT in the bytes after OFFSET?
# (grep -c reads to the end: no SIGPIPE for tail under pipefail, unlike grep -q.)
log_has_since() {
  [ -f "$1" ] || return 1
  local from="$2"
  # Smaller than at the start: the log rolled over (RollingFileAppender) since; all of it is new.
  [ "$(file_size "$1")" -lt "$from" ] && from=0
  [ "$(tail -c +"$(( from + 1 ))" "$1" 2>/dev/null | grep -cF -- "$3")" -gt 0 ]
}

# ---------------------------------------------------------------- kafka
kafka_cluster_id() {
  # A KRaft cluster id is a base64url-encoded random UUID (22 chars); one that
  # starts with '-' would be read as a command-line flag, so avoid that.
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    case "$id" in -*) ;; *) echo "$id"; return ;; esac
  done
}

# A self-signed certificate for 127.0.0.1 / localhost, once per cluster directory: the
# keystore Kafka's TLS listener and Cassandra's native port serve, and its certificate
# as PEM (the CA clients trust).
make_certificate() {
  local d="$CLUSTER_TLS_DIR" keytool
  [ -s "$d/server.p12" ] && [ -s "$d/ca.pem" ] && return 0
  keytool="$(dirname "$(readlink -f "$JAVA")")/keytool"
  mkdir -p "$d"
  rm -f "$d/server.p12" "$d/ca.pem"
  "$keytool" -genkeypair -alias server -keyalg RSA -keysize 2048 -validity 3650 \
    -dname "CN=$HOST" -ext "SAN=IP:$HOST,DNS:localhost" \
    -keystore "$d/server.p12" -storetype PKCS12 \
    -storepass "$CLUSTER_TLS_STORE_SECRET" -keypass "$CLUSTER_TLS_STORE_SECRET" > "$d/keytool.log" 2>&1 \
    && "$keytool" -exportcert -rfc -alias server -keystore "$d/server.p12" -storetype PKCS12 \
      -storepass "$CLUSTER_TLS_STORE_SECRET" -file "$d/ca.pem" >> "$d/keytool.log" 2>&1 \
    || { tail_log "$d/keytool.log" 20; die "could not make the local servers' TLS certificate"; }
}

# The Kafka version that last ran on the data directory (kafka/version). A data
# directory without that file was made by an older up.sh, which ran 3.9.
kafka_data_version() {
  local d="$CLUSTER_DIR/kafka"
  if [ -s "$d/version" ]; then cat "$d/version"
  elif [ -f "$d/data/meta.properties" ]; then echo 3.9
  fi
}

# Kafka upgrades its data in place (3.x -> 4.x) but cannot go back.
check_kafka_data_version() {
  local d="$CLUSTER_DIR/kafka" was
  was="$(kafka_data_version)"
  [ -z "$was" ] && return 0
  if [ "${was%%.*}" -gt "$KAFKA_LINE" ]; then
    die "kafka: the data in $d/data was last run by Kafka $was, and Kafka does not go back from ${was%%.*}.x to $KAFKA_LINE.x. Run $KAFKA_VERSION in a cluster of its own (e.g. CLUSTER_NAME=kafka39 PORT_OFFSET=500 KAFKA_VERSION=$KAFKA_VERSION) or start afresh: scripts/cluster/down.sh kafka && rm -rf $d"
  fi
  if [ "${was%%.*}" -lt "$KAFKA_LINE" ]; then
    warn "kafka: upgrading the data in $d/data from Kafka $was to $KAFKA_VERSION in place; its metadata.version stays at $was's (Kafka $KAFKA_VERSION's protocols are served, features gated on a newer metadata.version stay off). For a fresh $KAFKA_VERSION cluster: scripts/cluster/down.sh kafka && rm -rf $d"
  fi
}

# KAFKA_EXTRA_LISTENERS (lib.sh): appended to the rendered listeners, advertised
# listeners and protocol map; the file is unchanged without them.
add_extra_listeners() {
  local f="$1" i listeners="" advertised="" map=""
  for i in "${!KAFKA_EXTRA_NAMES[@]}"; do
    listeners+=",${KAFKA_EXTRA_NAMES[$i]}://$HOST:${KAFKA_EXTRA_PORTS[$i]}"
    advertised+=",${KAFKA_EXTRA_NAMES[$i]}://$HOST:${KAFKA_EXTRA_ADVERTISED[$i]}"
    map+=",${KAFKA_EXTRA_NAMES[$i]}:PLAINTEXT"
  done
  [ -n "$listeners" ] || return 0
  sed -i -e "s#^listeners=.*#&$listeners#" \
    -e "s#^advertised\.listeners=.*#&$advertised#" \
    -e "s#^listener\.security\.protocol\.map=.*#&$map#" "$f"
}

start_kafka() {
  local d="$CLUSTER_DIR/kafka" cp
  check_kafka_data_version
  mkdir -p "$d/data" "$d/logs"
  make_certificate
  render "$CLUSTER_SCRIPTS/kafka/server.properties" "$d/server.properties"
  add_extra_listeners "$d/server.properties"
  # What this broker was started with, so a later up.sh asking for other listeners can say so.
  printf '%s\n' "$KAFKA_EXTRA_LISTENERS" > "$d/extra-listeners"
  cp="$(cat "$KAFKA_CLASSPATH")"
  if [ ! -f "$d/data/meta.properties" ]; then
    [ -s "$d/cluster-id" ] || kafka_cluster_id > "$d/cluster-id"
    log "kafka: formatting storage for Kafka $KAFKA_VERSION (cluster id $(cat "$d/cluster-id"))"
    # The SCRAM users go into the first metadata records: no admin step once the broker runs.
    if ! "$JAVA" -Xmx256m "${KAFKA_LOG_OPTS[@]}" \
        -Dkafka.logs.dir="$d/logs" -cp "$cp" kafka.tools.StorageTool format \
        -t "$(cat "$d/cluster-id")" -c "$d/server.properties" --ignore-formatted \
        --add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_SECRET]" \
        --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_SECRET]" \
        > "$d/logs/format.log" 2>&1; then
      tail_log "$d/logs/format.log" 40
      die "kafka: storage format failed"
    fi
    echo "$KAFKA_SASL_USER" > "$d/scram-users"
  fi
  echo "$KAFKA_VERSION" > "$d/version"
  LOG_OFFSET[kafka]=$(file_size "$d/logs/server.log")
  STARTED_AT[kafka]=$(now_ms)
  spawn kafka "$d/logs/kafka.out" \
    -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    "${KAFKA_LOG_OPTS[@]}" \
    -Dkafka.logs.dir="$d/logs" -Djava.io.tmpdir="$d" \
    -cp "$cp" kafka.Kafka "$d/server.properties"
}

kafka_ready() {
  port_open "$KAFKA_PORT" && port_open "$KAFKA_SASL_PORT" && port_open "$KAFKA_TLS_PORT" || return 1
  local port
  for port in "${KAFKA_EXTRA_PORTS[@]}"; do port_open "$port" || return 1; done
  [ -z "${LOG_OFFSET[kafka]:-}" ] && return 0
  log_has_since "$CLUSTER_DIR/kafka/logs/server.log" "${LOG_OFFSET[kafka]}" "Kafka Server started"
}

# ---------------------------------------------------------------- registry
start_registry() {
  local d="$CLUSTER_DIR/registry" storage=()
  mkdir -p "$d/logs" "$d/tmp"
  # Default: in-memory H2 (schemas and ids are gone after a restart).
  # REGISTRY_STORAGE=file keeps them in .cluster/registry/data across restarts.
  if [ "${REGISTRY_STORAGE:-mem}" = file ]; then
    mkdir -p "$d/data"
    storage=("-Dapicurio.datasource.url=jdbc:h2:file:$d/data/registry")
  fi
  LOG_OFFSET[registry]=0   # its console log is rotated at each start
  STARTED_AT[registry]=$(now_ms)
  spawn registry "$d/logs/registry.log" \
    -Xms128m -Xmx"$REGISTRY_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.io.tmpdir="$d/tmp" \
    -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dapicurio.storage.snapshot.location="$d/tmp" \
    -Dapicurio.rules.global.compatibility=BACKWARD \
    -Dquarkus.http.access-log.enabled=false \
    ${storage[@]+"${storage[@]}"} \
    -jar "$(registry_jar)"
}

registry_ready() {
  [ "$(http_status "http://$HOST:$REGISTRY_PORT/health/ready")" = 200 ] || return 1
  [ "$(http_status "http://$HOST:$REGISTRY_PORT/apis/ccompat/v7/subjects")" = 200 ]
}

registry_after_ready() {
  # -Dapicurio.rules.global.compatibility is enforced, but the Confluent API's
  # GET /config still answers NONE until the level is set through it.
  command -v curl >/dev/null 2>&1 || return 0
  curl -s -o /dev/null -m 5 -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    -d '{"compatibility":"BACKWARD"}' "http://$HOST:$REGISTRY_PORT/apis/ccompat/v7/config" \
    || warn "registry: could not set global compatibility BACKWARD through /apis/ccompat/v7/config"
}

kafka_after_ready() {
  # SCRAM credentials are cluster metadata. A data directory formatted by an older
  # up.sh (without --add-scram) gets them once through the Admin API.
  local d="$CLUSTER_DIR/kafka"
  [ "$(cat "$d/scram-users" 2>/dev/null)" = "$KAFKA_SASL_USER" ] && return 0
  "$JAVA" -Xmx256m "${KAFKA_LOG_OPTS[@]}" -Dkafka.logs.dir="$d/logs" \
    -cp "$(cat "$KAFKA_CLASSPATH")" "$CLUSTER_SCRIPTS/kafka/ScramUsers.java" \
    "$HOST:$KAFKA_PORT" "$KAFKA_SASL_USER" "$KAFKA_SASL_SECRET" > "$d/logs/scram.log" 2>&1 \
    || { tail_log "$d/logs/scram.log" 20; die "kafka: could not add the SCRAM credentials of user $KAFKA_SASL_USER"; }
  echo "$KAFKA_SASL_USER" > "$d/scram-users"
}

# ---------------------------------------------------------------- cassandra
start_cassandra() {
  local d="$CLUSTER_DIR/cassandra" cp jamm
  mkdir -p "$d/data" "$d/logs" "$d/tmp" "$d/triggers"
  make_certificate
  render "$CLUSTER_SCRIPTS/cassandra/cassandra.yaml" "$d/cassandra.yaml"
  cp="$(cat "$CLUSTER_LIB/cassandra.classpath")"
  jamm="$(tr ':' '\n' <<< "$cp" | grep -E '/jamm-[^/]*\.jar$' | head -n 1)"
  local opts=()
  mapfile -t opts < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$CLUSTER_SCRIPTS/cassandra/jvm.options")
  [ -n "$jamm" ] && opts+=("-javaagent:$jamm")
  LOG_OFFSET[cassandra]=$(file_size "$d/logs/system.log")
  STARTED_AT[cassandra]=$(now_ms)
  spawn cassandra "$d/logs/cassandra.out" \
    -Xms"$CASSANDRA_HEAP" -Xmx"$CASSANDRA_HEAP" "${opts[@]}" \
    -Dcassandra-foreground=yes \
    -Dcassandra.config="file://$d/cassandra.yaml" \
    -Dcassandra.storagedir="$d/data" \
    -Dcassandra.logdir="$d/logs" \
    -Dlogback.configurationFile="$CLUSTER_SCRIPTS/cassandra/logback.xml" \
    -Dcassandra.jmx.local.port="$CASSANDRA_JMX_PORT" \
    -Dcassandra.triggers_dir="$d/triggers" \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -Djna.tmpdir="$d/tmp" -Djava.io.tmpdir="$d/tmp" \
    -cp "$cp" org.apache.cassandra.service.CassandraDaemon
}

cassandra_ready() {
  port_open "$CASSANDRA_PORT" || return 1
  [ -z "${LOG_OFFSET[cassandra]:-}" ] && return 0
  log_has_since "$CLUSTER_DIR/cassandra/logs/system.log" "${LOG_OFFSET[cassandra]}" "Startup complete"
}

# ---------------------------------------------------------------- opensearch
start_opensearch() {
  local d="$CLUSTER_DIR/opensearch" home="$CLUSTER_DIR/opensearch/home" cp
  # The node wants a home with config/, plugins/ and modules/ (empty: Netty4 is on the classpath).
  mkdir -p "$d/data" "$d/logs" "$d/tmp" "$home/config" "$home/plugins" "$home/modules"
  render "$CLUSTER_SCRIPTS/opensearch/opensearch.yml" "$home/config/opensearch.yml"
  cp "$CLUSTER_SCRIPTS/opensearch/log4j2.properties" "$home/config/log4j2.properties"
  cp="$OPENSEARCH_CLASSES:$(cat "$CLUSTER_LIB/opensearch.classpath")"
  LOG_OFFSET[opensearch]=$(file_size "$d/logs/tideflow.log")
  STARTED_AT[opensearch]=$(now_ms)
  # Flags from the distribution's jvm.options that matter here; log4j's own
  # shutdown hook is off so the node can still log while it closes.
  spawn opensearch "$d/logs/opensearch.out" \
    -Xms"$OPENSEARCH_HEAP" -Xmx"$OPENSEARCH_HEAP" -XX:+UseG1GC \
    -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true \
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Djava.locale.providers=SPI,COMPAT \
    -Djava.io.tmpdir="$d/tmp" -Djna.tmpdir="$d/tmp" \
    -cp "$cp" OpenSearchNode "$home"
}

opensearch_ready() {
  # 200 once the node serves and its cluster state (and indices) recovered; 408 before.
  [ "$(http_status "http://$HOST:$OPENSEARCH_PORT/_cluster/health?wait_for_status=yellow&timeout=1s")" = 200 ]
}

opensearch_after_ready() {
  # A single node cannot place replicas: without this every new index stays yellow.
  # Index creation reads the default from the persistent cluster settings, not from
  # opensearch.yml; persistent, so it is kept in the data directory.
  command -v curl >/dev/null 2>&1 || { warn "opensearch: no curl; new indices get a replica and stay yellow"; return 0; }
  curl -s -o /dev/null -m 10 -X PUT -H 'Content-Type: application/json' \
    -d '{"persistent":{"cluster.default_number_of_replicas":0}}' "http://$HOST:$OPENSEARCH_PORT/_cluster/settings" \
    || warn "opensearch: could not set cluster.default_number_of_replicas=0"
}

# ---------------------------------------------------------------- common
server_ports() {
  case "$1" in
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT $KAFKA_SASL_PORT $KAFKA_TLS_PORT ${KAFKA_EXTRA_PORTS[*]}" ;;
    registry) echo "$REGISTRY_PORT" ;;
    cassandra) echo "$CASSANDRA_PORT $CASSANDRA_STORAGE_PORT $CASSANDRA_JMX_PORT" ;;
    opensearch) echo "$OPENSEARCH_PORT $OPENSEARCH_TRANSPORT_PORT" ;;
  esac
}
server_timeout() {
  case "$1" in
    kafka) echo "$KAFKA_START_TIMEOUT" ;;
    registry) echo "$REGISTRY_START_TIMEOUT" ;;
    cassandra) echo "$CASSANDRA_START_TIMEOUT" ;;
    opensearch) echo "$OPENSEARCH_START_TIMEOUT" ;;
  esac
}
server_logs() {
  case "$1" in
    kafka) echo "$CLUSTER_DIR/kafka/logs/server.log $CLUSTER_DIR/kafka/logs/kafka.out" ;;
    registry) echo "$CLUSTER_DIR/registry/logs/registry.log" ;;
    cassandra) echo "$CLUSTER_DIR/cassandra/logs/system.log $CLUSTER_DIR/cassandra/logs/cassandra.out" ;;
    opensearch) echo "$CLUSTER_DIR/opensearch/logs/tideflow.log $CLUSTER_DIR/opensearch/logs/opensearch.out" ;;
  esac
}

fail_server() {
  local name="$1" why="$2" f main
  # The server's own log (appended across runs): only this run's lines.
  # Its console file (rotated per run): all of it.
  main="$(server_logs "$name" | cut -d' ' -f1)"
  for f in $(server_logs "$name"); do
    if [ "$f" = "$main" ]; then
      [ -s "$f" ] && [ "$(file_size "$f")" -gt "${LOG_OFFSET[$name]:-0}" ] && tail_log "$f" 40 "${LOG_OFFSET[$name]:-0}"
    else
      [ -s "$f" ] && tail_log "$f" 40
    fi
  done
  die "$name: $why (logs: $CLUSTER_DIR/$name/logs/)"
}

wait_ready() {
  local name="$1" t0 limit
  t0="${STARTED_AT[$name]:-$(now_ms)}"
  limit=$(( t0 + $(server_timeout "$name") * 1000 ))
  until "${name}_ready"; do
    if [ -z "${FOREIGN[$name]:-}" ] && ! server_running "$name"; then
      fail_server "$name" "the JVM exited during start-up"
    fi
    if [ "$(now_ms)" -gt "$limit" ]; then
      fail_server "$name" "not ready after $(server_timeout "$name")s (the JVM is left running; scripts/cluster/down.sh $name stops it)"
    fi
    sleep 0.5
  done
  if [ -n "${STARTED_AT[$name]:-}" ]; then
    [ "$name" = registry ] && registry_after_ready
    [ "$name" = kafka ] && kafka_after_ready
    [ "$name" = opensearch ] && opensearch_after_ready
    log "$name: ready in $(elapsed_s "$t0")s (pid $(server_pids "$name" | head -n 1))"
  elif [ -n "${FOREIGN[$name]:-}" ]; then
    log "$name: ready (another checkout's server, pid ${FOREIGN[$name]})"
  else
    log "$name: ready (already running, pid $(server_pids "$name" | head -n 1))"
  fi
}

write_env() {
  cat > "$CLUSTER_DIR/env.tmp" <<EOF
# Written by scripts/cluster/up.sh: how tests reach the local servers.
KAFKA_BROKERS=$HOST:$KAFKA_PORT
KAFKA_SASL_BROKERS=$HOST:$KAFKA_SASL_PORT
KAFKA_TLS_BROKERS=$HOST:$KAFKA_TLS_PORT
CLUSTER_TLS_CA=$CLUSTER_TLS_DIR/ca.pem
KAFKA_SASL_USERNAME=$KAFKA_SASL_USER
KAFKA_SASL_PASSWORD=$KAFKA_SASL_SECRET
SCHEMA_REGISTRY_URL=http://$HOST:$REGISTRY_PORT/apis/ccompat/v7
CASSANDRA_CONTACT_POINTS=$HOST:$CASSANDRA_PORT
CASSANDRA_LOCAL_DC=datacenter1
EOF
  # The optional OpenSearch: only while it answers (started now, earlier, or by another checkout).
  if opensearch_ready; then
    printf 'OPENSEARCH_URL=http://%s:%s\n' "$HOST" "$OPENSEARCH_PORT" >> "$CLUSTER_DIR/env.tmp"
  fi
  # A named cluster's env also says which cluster it is, so whoever loads it
  # (fault tests running down.sh/up.sh) stops and starts these servers, not the default ones.
  # Its Kafka version too, so a restart by those tests does not switch (upgrade) it to the default.
  if [ "$CLUSTER_NAME" != default ]; then
    printf 'CLUSTER_NAME=%s\nPORT_OFFSET=%s\nKAFKA_VERSION=%s\n' "$CLUSTER_NAME" "$PORT_OFFSET" \
      "$(kafka_data_version | grep . || echo "$KAFKA_VERSION")" >> "$CLUSTER_DIR/env.tmp"
  fi
  mv "$CLUSTER_DIR/env.tmp" "$CLUSTER_DIR/env"
}

# 1. Downloads (parallel; instant once cached) for servers not yet running.
TO_START=()
declare -A FOREIGN=()
for s in "${SERVERS[@]}"; do
  if server_running "$s"; then
    log "$s: already running (pid $(server_pids "$s" | head -n 1)); leaving it alone"
    if [ "$s" = kafka ] && [ "$(kafka_data_version)" != "$KAFKA_VERSION" ]; then
      warn "kafka: the running broker is Kafka $(kafka_data_version), not $KAFKA_VERSION; scripts/cluster/down.sh kafka first to switch"
    fi
    if [ "$s" = kafka ] && [ "$(cat "$CLUSTER_DIR/kafka/extra-listeners" 2>/dev/null)" != "$KAFKA_EXTRA_LISTENERS" ]; then
      warn "kafka: the running broker was started with KAFKA_EXTRA_LISTENERS='$(cat "$CLUSTER_DIR/kafka/extra-listeners" 2>/dev/null)', not '$KAFKA_EXTRA_LISTENERS'; scripts/cluster/down.sh kafka first to change them"
    fi
  elif [ -n "$(foreign_server_pids "$s")" ]; then
    # Same server from another checkout (e.g. a CI clone next to a dev tree):
    # use it if it answers; its own down.sh stops it, ours leaves it alone.
    FOREIGN[$s]="$(foreign_server_pids "$s" | head -n 1)"
    warn "$s: already served by pid ${FOREIGN[$s]} started from another checkout ($(tr '\0' '\n' < "/proc/${FOREIGN[$s]}/cmdline" 2>/dev/null | sed -n 's/^-Dtideflow.cluster.dir=//p')); using it"
  else
    check_port_free "$s" $(server_ports "$s")
    TO_START+=("$s")
  fi
done

if [ "${#TO_START[@]}" -gt 0 ]; then
  declare -A PREP=()
  for s in "${TO_START[@]}"; do
    ( prepare_server "$s" ) &
    PREP[$s]=$!
  done
  for s in "${TO_START[@]}"; do
    wait "${PREP[$s]}" || die "$s: preparing its files failed (see above)"
  done
fi

# 2. Start everything that is not running, then wait for each. Cassandra is
#    the slowest, so it goes first; the JVMs start side by side.
for s in cassandra opensearch kafka registry; do
  for t in "${TO_START[@]:-}"; do
    if [ "$t" = "$s" ]; then
      log "$s: starting"
      "start_$s"
    fi
  done
done
for s in kafka registry cassandra opensearch; do
  for t in "${SERVERS[@]}"; do
    if [ "$t" = "$s" ]; then wait_ready "$s"; fi
  done
done

write_env
log "all requested servers ready in $(elapsed_s "$UP_T0")s; settings in $CLUSTER_DIR/env"
