import { auth, Client, errors as driverErrors, policies, types, type ClientOptions } from 'cassandra-driver';
import { TideflowError, tlsConfigurationProblem } from '../core/errors';
import { retry } from '../core/retry';

/**
 * The Cassandra client every part of tideflow uses (the sink, the checkpoint
 * store, the UI): connecting, deciding which driver errors are worth a
 * retry, and CQL names and keyspaces. Free of I/O except
 * `createCassandraClient` and `awaitTableReady`, so the rules can be unit-tested.
 */

/** Where a Cassandra cluster is and how to log in. */
export interface CassandraConnection {
  /** `host` or `host:port` (the driver reads the port; default 9042). */
  contactPoints: string[];
  localDataCenter: string;
  auth?: { username: string; password: string };
  /** TLS, verifying the node certificates against Node's trust store (plus NODE_EXTRA_CA_CERTS). */
  ssl?: boolean;
}

/**
 * Consistency for every read and write. LOCAL_QUORUM is what production wants
 * (a write survives the loss of a replica), and on a single node with
 * replication factor 1 a quorum of one replica is that replica, so it behaves
 * exactly like ONE there — no special case for the local test cluster.
 */
export const CONSISTENCY = types.consistencies.localQuorum;

/**
 * A driver client configured the same way for the sink and the checkpoint store.
 *
 * Why these settings: the driver's default reconnection backoff grows to ten
 * minutes, so after a long outage a recovered node would go unnoticed for
 * minutes; capping it at 5 s makes recovery follow the server. Statements are
 * marked idempotent (upserts by key are), which lets the driver itself retry
 * them on another connection after a socket error.
 *
 * @example
 *   const client = createCassandraClient({ contactPoints: ['127.0.0.1:9042'], localDataCenter: 'datacenter1' });
 *   await client.connect();
 */
export function createCassandraClient(connection: CassandraConnection): Client {
  const options: ClientOptions = {
    contactPoints: connection.contactPoints,
    localDataCenter: connection.localDataCenter,
    policies: { reconnection: new policies.reconnection.ExponentialReconnectionPolicy(250, 5_000, false) },
    queryOptions: { consistency: CONSISTENCY, prepare: true, isIdempotent: true },
    encoding: { useBigIntAsLong: true },
    socketOptions: { connectTimeout: 5_000, readTimeout: 12_000 },
  };
  if (connection.auth) options.authProvider = new auth.PlainTextAuthProvider(connection.auth.username, connection.auth.password);
  // The driver's TLS default is rejectUnauthorized: false (encrypted, but any certificate accepted).
  // `ssl: true` verifies the node's certificate and name like any Node TLS client; a private CA
  // is trusted with NODE_EXTRA_CA_CERTS.
  if (connection.ssl) options.sslOptions = { rejectUnauthorized: true };
  return new Client(options);
}

/** Socket-level failures that end when the server (or the network) comes back. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/** Server answers that mean "not now" rather than "never". */
const TRANSIENT_RESPONSE_CODES = new Set<number>([
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.writeTimeout,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.truncateError,
  types.responseErrorCodes.writeFailure,
]);

/**
 * Whether a Cassandra operation that failed with `error` may succeed later.
 * Outages (no host, timeouts, unavailable replicas, closed sockets) are
 * retriable: the engine waits them out. Everything the server rejects on
 * its merits (syntax, invalid values, unauthorized, bad credentials) is not.
 */
export function isRetriableCassandraError(error: unknown): boolean {
  if (error instanceof TideflowError) return error.retriable;
  if (error instanceof driverErrors.AuthenticationError) return false;
  if (cassandraTlsProblem(error) !== null) return false;
  if (error instanceof driverErrors.NoHostAvailableError) {
    if (/after shutdown/i.test(error.message)) return false;
    const inner = Object.values(error.innerErrors ?? {}) as unknown[];
    // Every node refusing our credentials (or our TLS trust) is a configuration problem, not an outage.
    return !(inner.length > 0 && inner.every((cause) => cause instanceof driverErrors.AuthenticationError || tlsConfigurationProblem(cause, 'Cassandra node') !== null));
  }
  if (error instanceof driverErrors.OperationTimedOutError) return true;
  if (error instanceof driverErrors.BusyConnectionError) return true;
  if (error instanceof driverErrors.ResponseError) return TRANSIENT_RESPONSE_CODES.has(error.code);
  if (error instanceof driverErrors.DriverInternalError) return false;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)) return true;
  if (error instanceof driverErrors.DriverError) return /socket|connection|closed|timeout/i.test(error.message);
  return false;
}

/** One line for logs: the error's class and message, with the first inner error of a NoHostAvailableError. */
export function describeCassandraError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // The driver folds inner errors, stack included, into some messages: one line is enough for a log.
  const firstLine = (text: string): string => text.split('\n', 1)[0].trim();
  let text = `${error.name}: ${firstLine(error.message)}`;
  if (error instanceof driverErrors.NoHostAvailableError) {
    const inner = Object.entries(error.innerErrors ?? {})[0] as [string, unknown] | undefined;
    if (inner && inner[1] instanceof Error && !text.includes(firstLine(inner[1].message))) text += ` (${inner[0]}: ${firstLine(inner[1].message)})`;
  }
  if (loginRefused(error)) return `${text} (Cassandra refused the login: check the username and password under the Cassandra sink's auth)`;
  const tls = cassandraTlsProblem(error);
  return tls === null ? text : `${text} (${tls})`;
}

/** Whether the error is Cassandra refusing the credentials, on every node tried. */
function loginRefused(error: unknown): boolean {
  if (error instanceof driverErrors.NoHostAvailableError) {
    const inner = Object.values(error.innerErrors ?? {}) as unknown[];
    return inner.length > 0 && inner.every((cause) => cause instanceof driverErrors.AuthenticationError);
  }
  return error instanceof driverErrors.AuthenticationError;
}

/** The TLS configuration problem of an error, or of every node of a NoHostAvailableError (see tlsConfigurationProblem). */
function cassandraTlsProblem(error: unknown): string | null {
  if (error instanceof driverErrors.NoHostAvailableError) {
    const inner = Object.values(error.innerErrors ?? {}) as unknown[];
    const problems = inner.map((cause) => tlsConfigurationProblem(cause, 'Cassandra node'));
    return problems.length > 0 && problems.every((problem) => problem !== null) ? problems[0] : null;
  }
  return tlsConfigurationProblem(error, 'Cassandra node');
}

// ---------------------------------------------------------------- CQL text

/**
 * A CQL identifier, always double-quoted so that names are used exactly as
 * written: unquoted CQL names fold to lower case, which would silently turn a
 * field `windowStart` into a column `windowstart`.
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"keyspace"."table"`. */
export function qualifiedName(keyspace: string, table: string): string {
  return `${quoteIdentifier(keyspace)}.${quoteIdentifier(table)}`;
}

/**
 * Waits until `keyspace.table` answers queries on this client. Two jobs
 * starting side by side on a fresh keyspace both create it (IF NOT EXISTS),
 * and for a moment afterwards the node can still answer one of them "table
 * ... does not exist" or "Unknown CF" (measured: 1 job in 4, every time,
 * on the local 5.0 node); a prepared statement or read then would fail the job. Other
 * errors are left to the caller's retry handling.
 */
export async function awaitTableReady(client: Client, keyspace: string, table: string, timeoutMs = 30_000): Promise<void> {
  await retry(() => client.execute(`SELECT * FROM ${qualifiedName(keyspace, table)} LIMIT 1`), {
    initialDelayMs: 50,
    maxDelayMs: 1000,
    maxElapsedMs: timeoutMs,
    // Two CREATEs at once can also leave two table ids for a moment: "Unknown CF <id>" until the schema settles.
    retriable: (error) => error instanceof driverErrors.ResponseError && /does not exist|unconfigured table|unknown cf|unknown table/i.test(error.message),
    // The full delay each time: one node settling its own schema, no crowd of writers to spread out.
    random: () => 1,
  });
}

/** CREATE KEYSPACE IF NOT EXISTS with SimpleStrategy (the keyspaces this engine creates are for one data center). */
export function createKeyspaceCql(keyspace: string, replicationFactor: number): string {
  const factor = Math.max(1, Math.floor(replicationFactor));
  return `CREATE KEYSPACE IF NOT EXISTS ${quoteIdentifier(keyspace)} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${factor}}`;
}
