# Shared helpers for scripts/cluster/{up,down,status}.sh. Sourced, not run.
# Everything a server writes (data, logs, generated config, resolved
# classpaths, unpacked apps) lives under .cluster/ at the repository root.
# shellcheck shell=bash

CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# A second, private cluster beside the default one (fault tests stop servers
# without disturbing anybody): CLUSTER_NAME=faults keeps its state under
# .cluster-faults/ and PORT_OFFSET=100 moves every port up by 100. Unset, both
# give the default cluster: .cluster/ and the fixed ports below.
CLUSTER_NAME="${CLUSTER_NAME:-}"
case "$CLUSTER_NAME" in
  ''|default) CLUSTER_NAME=default; _cluster_subdir=.cluster ;;
  *[!A-Za-z0-9_-]*) printf 'CLUSTER_NAME must be letters, digits, - or _ (got %s)\n' "$CLUSTER_NAME" >&2; exit 2 ;;
  *) _cluster_subdir=".cluster-$CLUSTER_NAME" ;;
esac
PORT_OFFSET="${PORT_OFFSET:-0}"
case "$PORT_OFFSET" in
  ''|*[!0-9]*) printf 'PORT_OFFSET must be a whole number (got %s)\n' "$PORT_OFFSET" >&2; exit 2 ;;
esac
if [ "$CLUSTER_NAME" != default ] && [ "$PORT_OFFSET" -eq 0 ]; then
  printf 'CLUSTER_NAME=%s needs a PORT_OFFSET (e.g. 100): the default cluster holds the standard ports\n' "$CLUSTER_NAME" >&2
  exit 2
fi
CLUSTER_DIR="$(mkdir -p "$CLUSTER_SCRIPTS/../../$_cluster_subdir" && cd "$CLUSTER_SCRIPTS/../../$_cluster_subdir" && pwd)"
CLUSTER_LIB="$CLUSTER_DIR/lib"

# Loopback only, fixed ports (see README.md), shifted by PORT_OFFSET.
HOST=127.0.0.1
KAFKA_PORT=$((9092 + PORT_OFFSET))
KAFKA_CONTROLLER_PORT=$((9093 + PORT_OFFSET))
KAFKA_SASL_PORT=$((9094 + PORT_OFFSET))
KAFKA_TLS_PORT=$((9095 + PORT_OFFSET))
# The SASL user (PLAIN and SCRAM); PLAIN's copy is in kafka/server.properties.
KAFKA_SASL_USER=tideflow
KAFKA_SASL_SECRET=tideflow-secret
# The self-signed certificate of Kafka's TLS listener and Cassandra's native port (made by up.sh), and its keystore password.
CLUSTER_TLS_DIR="$CLUSTER_DIR/tls"
CLUSTER_TLS_STORE_SECRET=tideflow-tls
REGISTRY_PORT=$((8081 + PORT_OFFSET))
CASSANDRA_PORT=$((9042 + PORT_OFFSET))
CASSANDRA_STORAGE_PORT=$((7000 + PORT_OFFSET))
CASSANDRA_JMX_PORT=$((7199 + PORT_OFFSET))
OPENSEARCH_PORT=$((9200 + PORT_OFFSET))
OPENSEARCH_TRANSPORT_PORT=$((9300 + PORT_OFFSET))

# Kafka: the newest 4.x by default; a 3.x (or another 4.x) from Maven Central when
# asked, e.g. KAFKA_VERSION=3.9.2. The two lines differ in their Maven project
# (logging: log4j2 in 4.x, reload4j in 3.x) and logging configuration.
KAFKA_DEFAULT_VERSION=4.4.0
KAFKA_VERSION="${KAFKA_VERSION:-$KAFKA_DEFAULT_VERSION}"
case "$KAFKA_VERSION" in
  3.[0-9]*.[0-9]*)
    KAFKA_LINE=3
    KAFKA_POM="$CLUSTER_SCRIPTS/kafka/pom-3.x.xml"
    KAFKA_LOG_OPTS=("-Dlog4j.configuration=file:$CLUSTER_SCRIPTS/kafka/log4j.properties") ;;
  4.[0-9]*.[0-9]*)
    KAFKA_LINE=4
    KAFKA_POM="$CLUSTER_SCRIPTS/kafka/pom.xml"
    KAFKA_LOG_OPTS=("-Dlog4j2.configurationFile=$CLUSTER_SCRIPTS/kafka/log4j2.properties") ;;
  *) printf 'KAFKA_VERSION must be a 3.x.y or 4.x.y release (got %s)\n' "$KAFKA_VERSION" >&2; exit 2 ;;
esac
case "$KAFKA_VERSION" in
  *[!0-9.]*) printf 'KAFKA_VERSION must be a 3.x.y or 4.x.y release (got %s)\n' "$KAFKA_VERSION" >&2; exit 2 ;;
esac

# Extra PLAINTEXT listeners, each advertised at another port of $HOST: a test's
# TCP proxy in front of the broker. Clients bootstrap, then connect to the
# address the broker advertises for the listener they came in on, so a proxy
# that is not advertised is bypassed. Comma-separated NAME=LISTEN_PORT:ADVERTISED_PORT,
# e.g. KAFKA_EXTRA_LISTENERS=CUT=9396:41234 (listen on 127.0.0.1:9396, send
# clients to the proxy on 127.0.0.1:41234). Unset: none (the default cluster
# never has any).
KAFKA_EXTRA_LISTENERS="${KAFKA_EXTRA_LISTENERS:-}"
KAFKA_EXTRA_NAMES=()
KAFKA_EXTRA_PORTS=()
KAFKA_EXTRA_ADVERTISED=()
if [ -n "$KAFKA_EXTRA_LISTENERS" ]; then
  IFS=',' read -r -a _extra_listeners <<< "$KAFKA_EXTRA_LISTENERS"
  for _extra in "${_extra_listeners[@]}"; do
    if ! [[ "$_extra" =~ ^([A-Z][A-Z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
      printf 'KAFKA_EXTRA_LISTENERS: expected NAME=LISTEN_PORT:ADVERTISED_PORT (e.g. CUT=9396:41234), got %s\n' "$_extra" >&2
      exit 2
    fi
    case "${BASH_REMATCH[1]}" in
      PLAINTEXT|CONTROLLER|SASL_PLAINTEXT|SASL_SSL)
        printf 'KAFKA_EXTRA_LISTENERS: %s is a listener the broker already has; pick another name\n' "${BASH_REMATCH[1]}" >&2
        exit 2 ;;
    esac
    KAFKA_EXTRA_NAMES+=("${BASH_REMATCH[1]}")
    KAFKA_EXTRA_PORTS+=("${BASH_REMATCH[2]}")
    KAFKA_EXTRA_ADVERTISED+=("${BASH_REMATCH[3]}")
  done
  unset _extra _extra_listeners
fi

# Cassandra's authenticator: none by default. A private cluster for the
# authentication test sets CASSANDRA_AUTHENTICATOR=PasswordAuthenticator: the
# node then takes only logins (the default superuser cassandra/cassandra).
CASSANDRA_AUTHENTICATOR="${CASSANDRA_AUTHENTICATOR:-AllowAllAuthenticator}"
case "$CASSANDRA_AUTHENTICATOR" in
  AllowAllAuthenticator|PasswordAuthenticator) ;;
  *) printf 'CASSANDRA_AUTHENTICATOR must be AllowAllAuthenticator or PasswordAuthenticator (got %s)\n' "$CASSANDRA_AUTHENTICATOR" >&2; exit 2 ;;
esac

# The default set (plain up.sh / down.sh); optional servers start only when named.
ALL_SERVERS=(kafka registry cassandra)
OPTIONAL_SERVERS=(opensearch)

# Seconds to wait for readiness; generous for 2-core CI machines running the
# three JVMs side by side. Override with the environment if needed.
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-150}"
REGISTRY_START_TIMEOUT="${REGISTRY_START_TIMEOUT:-150}"
CASSANDRA_START_TIMEOUT="${CASSANDRA_START_TIMEOUT:-300}"
OPENSEARCH_START_TIMEOUT="${OPENSEARCH_START_TIMEOUT:-180}"

# Heaps: modest so three JVMs fit beside the tests on a small machine.
KAFKA_HEAP="${KAFKA_HEAP:-768m}"
REGISTRY_HEAP="${REGISTRY_HEAP:-384m}"
CASSANDRA_HEAP="${CASSANDRA_HEAP:-1g}"
OPENSEARCH_HEAP="${OPENSEARCH_HEAP:-512m}"

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
warn() { printf '[cluster %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[cluster %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

now_ms() { date +%s%3N; }
# elapsed_s START_MS -> "12.3"
elapsed_s() {
  local d=$(( $(now_ms) - $1 ))
  printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100))
}

is_server() {
  local s
  for s in "${ALL_SERVERS[@]}" "${OPTIONAL_SERVERS[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# Server names from the command line (default: the default set), validated.
# SERVERS_NAMED=1 when the caller listed them.
parse_servers() {
  SERVERS_NAMED=0
  if [ "$#" -eq 0 ]; then
    SERVERS=("${ALL_SERVERS[@]}")
    return
  fi
  SERVERS_NAMED=1
  SERVERS=()
  local s
  for s in "$@"; do
    case "$s" in
      schema-registry|apicurio) s=registry ;;
    esac
    is_server "$s" || die "unknown server '$s' (expected one of: ${ALL_SERVERS[*]} ${OPTIONAL_SERVERS[*]})"
    SERVERS+=("$s")
  done
}

# ---------------------------------------------------------------- processes
# A server's JVM carries two marker properties so we can find exactly the
# processes this checkout started (and nothing else):
#   -Dtideflow.cluster.server=<name> -Dtideflow.cluster.dir=<abs .cluster>

# Regex (for grep -x) matching one exact argument; the escaped dots keep the
# pattern from matching grep's own command line.
arg_regex() { printf '%s' "$1" | sed -e 's/[].[*^$\\]/\\&/g'; }

# /proc/<pid>/cmdline files of processes that have the argument
# -Dtideflow.cluster.server=NAME (NUL-separated args: grep -z, one per "line").
_server_cmdlines() {
  grep -lzx -e "$(arg_regex "-Dtideflow.cluster.server=$1")" /proc/[0-9]*/cmdline 2>/dev/null || true
}

# Prints the pids of the server's JVM(s) started from this checkout.
server_pids() {
  local f dir_re
  dir_re="$(arg_regex "-Dtideflow.cluster.dir=$CLUSTER_DIR")"
  for f in $(_server_cmdlines "$1"); do
    grep -qzx -e "$dir_re" "$f" 2>/dev/null && { f="${f#/proc/}"; echo "${f%/cmdline}"; }
  done
  return 0
}

server_running() { [ -n "$(server_pids "$1")" ]; }

# Pids of the same server on the same ports started by up.sh of ANOTHER
# checkout (other .cluster). A server of another named cluster (other
# PORT_OFFSET, marker -Dtideflow.cluster.portOffset; servers started before
# that marker existed count as offset 0) serves other ports and is not ours to use.
foreign_server_pids() {
  local f dir_re offset
  dir_re="$(arg_regex "-Dtideflow.cluster.dir=$CLUSTER_DIR")"
  for f in $(_server_cmdlines "$1"); do
    [ -r "$f" ] || continue
    grep -qzx -e "$dir_re" "$f" 2>/dev/null && continue
    offset="$(tr '\0' '\n' < "$f" 2>/dev/null | sed -n 's/^-Dtideflow\.cluster\.portOffset=//p' | head -n 1)"
    [ "${offset:-0}" = "$PORT_OFFSET" ] || continue
    f="${f#/proc/}"; echo "${f%/cmdline}"
  done
  return 0
}

# port_open PORT -> 0 when something accepts TCP connections on 127.0.0.1:PORT
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# http_status URL -> prints the HTTP status code (000 when unreachable)
http_status() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
  else
    # Minimal fallback without curl: HTTP/1.0 over bash's /dev/tcp.
    local rest="${1#http://}" hostport path
    hostport="${rest%%/*}"; path="/${rest#*/}"
    timeout 3 bash -c "exec 3<>/dev/tcp/${hostport%:*}/${hostport#*:} || exit 1;
      printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' '$path' '$hostport' >&3;
      read -r _ code _ <&3; printf '%s' \"\$code\"" 2>/dev/null || printf '000'
  fi
}

# Starts a detached JVM in its own session; stdout/stderr to LOGFILE.
# spawn NAME LOGFILE JAVA-ARGS...   (the marker args are added here)
spawn() {
  local name="$1" out="$2"; shift 2
  local pidfile="$CLUSTER_DIR/$name/$name.pid"
  mkdir -p "$(dirname "$out")"
  # One console file per run: the previous run's is kept as <file>.1.
  [ -f "$out" ] && mv -f "$out" "$out.1"
  # setsid: the server survives the shell/CI step that started it and does
  # not get the terminal's signals; the pid is written by the process itself.
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$pidfile" \
    "$JAVA" "-Dtideflow.cluster.server=$name" "-Dtideflow.cluster.dir=$CLUSTER_DIR" \
    "-Dtideflow.cluster.portOffset=$PORT_OFFSET" "$@" \
    >> "$out" 2>&1 < /dev/null &
  disown 2>/dev/null || true
}

# tail_log FILE [LINES] [BYTE-OFFSET]: the last lines written after OFFSET.
tail_log() {
  local f="$1" n="${2:-40}" from="${3:-0}"
  if [ -f "$f" ]; then
    printf -- '----- last %d lines of %s -----\n' "$n" "$f" >&2
    tail -c +"$(( from + 1 ))" "$f" | tail -n "$n" >&2
    printf -- '----- end of %s -----\n' "$f" >&2
  else
    printf 'no log file at %s\n' "$f" >&2
  fi
}

# ---------------------------------------------------------------- tools
JAVA=""
ensure_tools() {
  local need_install=0
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    JAVA="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA="$(command -v java)"
  else
    need_install=1
  fi
  command -v mvn >/dev/null 2>&1 || need_install=1
  if [ "$need_install" = 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "java or mvn missing: installing openjdk-17-jdk-headless and maven with apt-get"
      DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jdk-headless maven >/dev/null \
        || die "apt-get install of openjdk-17-jdk-headless maven failed"
      JAVA="$(command -v java)" || die "java still missing after apt-get install"
    else
      command -v java >/dev/null 2>&1 || die "java (17+) is required but not on PATH; install openjdk-17-jdk-headless"
      die "mvn (Maven 3.6+) is required but not on PATH; install maven"
    fi
  fi
  local ver
  ver="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  case "$ver" in
    1.*|9|10|11|12|13|14|15|16|"") die "Java 17+ is required, found '${ver:-unknown}' at $JAVA" ;;
  esac
}

# ---------------------------------------------------------------- downloads
# Resolves (downloads into ~/.m2 on first use) what a server needs from
# Maven Central. Skipped when the output is newer than the server's pom.
#   prepare_kafka / prepare_cassandra: .cluster/lib/<name>.classpath
#   prepare_registry: .cluster/registry/app/<runner jar>
mvn_quiet() {
  # One retry: Central occasionally drops a connection on cold downloads.
  local logf="$1"; shift
  mvn -B -q "$@" > "$logf" 2>&1 && return 0
  warn "mvn failed once (see $logf); retrying"
  mvn -B -q "$@" >> "$logf" 2>&1
}

# prepare_classpath NAME [POM [OUT [MAVEN-ARGS...]]]
prepare_classpath() {
  local name="$1" pom="${2:-$CLUSTER_SCRIPTS/$1/pom.xml}" out="${3:-$CLUSTER_LIB/$1.classpath}"
  shift $(( $# < 3 ? $# : 3 ))
  mkdir -p "$CLUSTER_LIB"
  if [ -s "$out" ] && [ "$out" -nt "$pom" ] && classpath_complete "$out"; then
    return 0
  fi
  local t0; t0=$(now_ms)
  log "$name: resolving classpath from Maven Central (cached in ~/.m2)"
  if ! mvn_quiet "$CLUSTER_LIB/$name.mvn.log" -f "$pom" dependency:build-classpath \
      -Dmdep.outputFile="$out.tmp" -Dmdep.includeScope=runtime "$@"; then
    tail_log "$CLUSTER_LIB/$name.mvn.log" 40
    die "$name: could not resolve its classpath with Maven"
  fi
  mv "$out.tmp" "$out"
  log "$name: classpath ready in $(elapsed_s "$t0")s"
}

# Every jar listed must still exist (~/.m2 may have been cleaned).
classpath_complete() {
  local IFS=: j
  for j in $(cat "$1"); do [ -f "$j" ] || return 1; done
  return 0
}

REGISTRY_APP_DIR="$CLUSTER_DIR/registry/app"
registry_jar() { ls "$REGISTRY_APP_DIR"/apicurio-registry-app-*-runner.jar 2>/dev/null | head -n 1; }

prepare_registry_app() {
  local pom="$CLUSTER_SCRIPTS/registry/pom.xml" stamp="$REGISTRY_APP_DIR/.prepared"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$pom" ] && [ -n "$(registry_jar)" ]; then
    return 0
  fi
  local t0; t0=$(now_ms)
  log "registry: fetching the Apicurio Registry app from Maven Central (cached in ~/.m2)"
  rm -rf "$REGISTRY_APP_DIR"
  mkdir -p "$REGISTRY_APP_DIR"
  if ! mvn_quiet "$CLUSTER_DIR/registry/mvn.log" -f "$pom" dependency:unpack \
      -Dregistry.dir="$REGISTRY_APP_DIR"; then
    tail_log "$CLUSTER_DIR/registry/mvn.log" 40
    die "registry: could not fetch/unpack the Apicurio Registry app with Maven"
  fi
  [ -n "$(registry_jar)" ] || die "registry: no *-runner.jar after unpacking into $REGISTRY_APP_DIR"
  touch "$stamp"
  log "registry: app ready in $(elapsed_s "$t0")s"
}

# The node's main class (scripts/cluster/opensearch/OpenSearchNode.java), compiled
# against the resolved classpath; again only when the source or classpath changed.
OPENSEARCH_CLASSES="$CLUSTER_DIR/opensearch/classes"
prepare_opensearch() {
  local src="$CLUSTER_SCRIPTS/opensearch/OpenSearchNode.java" cls="$OPENSEARCH_CLASSES/OpenSearchNode.class" javac
  prepare_classpath opensearch
  if [ -f "$cls" ] && [ "$cls" -nt "$src" ] && [ "$cls" -nt "$CLUSTER_LIB/opensearch.classpath" ]; then
    return 0
  fi
  javac="$(dirname "$(readlink -f "$JAVA")")/javac"
  [ -x "$javac" ] || die "opensearch: javac not found next to $JAVA (a JDK is needed, not only a JRE)"
  rm -rf "$OPENSEARCH_CLASSES"
  mkdir -p "$OPENSEARCH_CLASSES"
  "$javac" -nowarn -d "$OPENSEARCH_CLASSES" -cp "$(cat "$CLUSTER_LIB/opensearch.classpath")" "$src" \
    > "$CLUSTER_DIR/opensearch/javac.log" 2>&1 \
    || { tail_log "$CLUSTER_DIR/opensearch/javac.log" 40; die "opensearch: could not compile $src"; }
}

# One classpath per Kafka version, so switching KAFKA_VERSION back and forth resolves nothing again.
KAFKA_CLASSPATH="$CLUSTER_LIB/kafka-$KAFKA_VERSION.classpath"
prepare_kafka() {
  # A private cluster takes the default cluster's classpath of the same version when that one is
  # current (the same jars in ~/.m2): resolving it again costs a Maven run (8-25 s here).
  local shared="$CLUSTER_SCRIPTS/../../.cluster/lib/kafka-$KAFKA_VERSION.classpath"
  if [ "$CLUSTER_NAME" != default ] && [ ! -s "$KAFKA_CLASSPATH" ] && [ -s "$shared" ] \
      && [ "$shared" -nt "$KAFKA_POM" ] && classpath_complete "$shared"; then
    mkdir -p "$CLUSTER_LIB"
    cp "$shared" "$KAFKA_CLASSPATH"
  fi
  prepare_classpath kafka "$KAFKA_POM" "$KAFKA_CLASSPATH" -Dkafka.version="$KAFKA_VERSION"
}

prepare_server() {
  case "$1" in
    kafka) prepare_kafka ;;
    cassandra) prepare_classpath cassandra ;;
    registry) mkdir -p "$CLUSTER_DIR/registry" && prepare_registry_app ;;
    opensearch) mkdir -p "$CLUSTER_DIR/opensearch" && prepare_opensearch ;;
  esac
}

# render TEMPLATE OUT: replaces @KEY@ placeholders with the variables below.
render() {
  sed -e "s#@CLUSTER_DIR@#$CLUSTER_DIR#g" \
      -e "s#@HOST@#$HOST#g" \
      -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" \
      -e "s#@KAFKA_CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
      -e "s#@KAFKA_SASL_PORT@#$KAFKA_SASL_PORT#g" \
      -e "s#@KAFKA_TLS_PORT@#$KAFKA_TLS_PORT#g" \
      -e "s#@CLUSTER_TLS_DIR@#$CLUSTER_TLS_DIR#g" \
      -e "s#@CLUSTER_TLS_STORE_SECRET@#$CLUSTER_TLS_STORE_SECRET#g" \
      -e "s#@CASSANDRA_PORT@#$CASSANDRA_PORT#g" \
      -e "s#@CASSANDRA_STORAGE_PORT@#$CASSANDRA_STORAGE_PORT#g" \
      -e "s#@CASSANDRA_AUTHENTICATOR@#$CASSANDRA_AUTHENTICATOR#g" \
      -e "s#@OPENSEARCH_PORT@#$OPENSEARCH_PORT#g" \
      -e "s#@OPENSEARCH_TRANSPORT_PORT@#$OPENSEARCH_TRANSPORT_PORT#g" \
      "$1" > "$2.tmp" && mv "$2.tmp" "$2"
}
