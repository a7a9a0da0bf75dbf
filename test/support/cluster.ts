// Helpers for tests that talk to the real servers started by
// `npm run cluster:up` (scripts/cluster/up.sh, settings in .cluster/env).
//
//   const env = clusterEnv();
//   test('...', async (t) => {
//     if (!(await requireCluster(t))) return; // skipped locally when down
//     ...
//   });
//
// In CI (CI=true) an unreachable server is a failure, never a skip.
// OpenSearch is optional (`bash scripts/cluster/up.sh opensearch`): tests that
// need it call requireOpenSearch(t) the same way.
import net from 'node:net';
import { after, type TestContext } from 'node:test';
import { Client, policies } from 'cassandra-driver';

export interface ClusterEnv {
  /** PLAINTEXT brokers, host:port. */
  kafkaBrokers: string[];
  /** SASL_PLAINTEXT brokers (mechanisms PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512), host:port. */
  kafkaSaslBrokers: string[];
  /** The SASL user and password accepted on kafkaSaslBrokers, for every mechanism. */
  kafkaSaslUsername: string;
  kafkaSaslPassword: string;
  /** SASL_SSL brokers (TLS, then the same SASL mechanisms and user), host:port. */
  kafkaTlsBrokers: string[];
  /** PEM certificate the TLS listener's certificate chains to (self-signed: the certificate itself). */
  tlsCa: string;
  /** Confluent-compatible Schema Registry base URL (no trailing slash). */
  registryUrl: string;
  /** Cassandra contact points, host:port. */
  cassandraContactPoints: string[];
  cassandraLocalDc: string;
  /** OpenSearch HTTP base URL (no trailing slash); the optional server of scripts/cluster. */
  opensearchUrl: string;
}

const DEFAULTS = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  KAFKA_SASL_BROKERS: '127.0.0.1:9094',
  KAFKA_SASL_USERNAME: 'tideflow',
  KAFKA_SASL_PASSWORD: 'tideflow-secret',
  KAFKA_TLS_BROKERS: '127.0.0.1:9095',
  CLUSTER_TLS_CA: `${process.cwd()}/.cluster/tls/ca.pem`,
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7',
  CASSANDRA_CONTACT_POINTS: '127.0.0.1:9042',
  CASSANDRA_LOCAL_DC: 'datacenter1',
  OPENSEARCH_URL: 'http://127.0.0.1:9200',
} as const;

function envValue(name: keyof typeof DEFAULTS): string {
  const v = process.env[name];
  return v !== undefined && v.trim() !== '' ? v.trim() : DEFAULTS[name];
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Where the test servers are: environment variables, else the local defaults. */
export function clusterEnv(): ClusterEnv {
  return {
    kafkaBrokers: list(envValue('KAFKA_BROKERS')),
    kafkaSaslBrokers: list(envValue('KAFKA_SASL_BROKERS')),
    kafkaSaslUsername: envValue('KAFKA_SASL_USERNAME'),
    kafkaSaslPassword: envValue('KAFKA_SASL_PASSWORD'),
    kafkaTlsBrokers: list(envValue('KAFKA_TLS_BROKERS')),
    tlsCa: envValue('CLUSTER_TLS_CA'),
    registryUrl: envValue('SCHEMA_REGISTRY_URL').replace(/\/+$/, ''),
    cassandraContactPoints: list(envValue('CASSANDRA_CONTACT_POINTS')),
    cassandraLocalDc: envValue('CASSANDRA_LOCAL_DC'),
    opensearchUrl: envValue('OPENSEARCH_URL').replace(/\/+$/, ''),
  };
}

/** Splits "host:port", "[v6]:port" or "host" (with a default port). */
export function hostPort(address: string, defaultPort: number): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return { host: v6[1], port: v6[2] ? Number(v6[2]) : defaultPort };
  const i = address.lastIndexOf(':');
  if (i > 0 && address.indexOf(':') === i) {
    return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
  }
  return { host: address, port: defaultPort };
}

/** Resolves when a TCP connection to address succeeds; rejects otherwise. */
export function tcpProbe(address: string, defaultPort: number, timeoutMs = 2000): Promise<void> {
  const { host, port } = hostPort(address, defaultPort);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const done = (err?: Error): void => {
      socket.removeAllListeners();
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`timed out after ${timeoutMs} ms`)));
    socket.once('connect', () => done());
    socket.once('error', (err) => done(err));
  });
}

async function httpProbe(url: string, timeoutMs = 2000): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  // Drain the body so the socket is released.
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
}

export type ClusterServer = 'kafka' | 'registry' | 'cassandra';
const ALL_SERVERS: readonly ClusterServer[] = ['kafka', 'registry', 'cassandra'];

/** Each unreachable server as "name (address): reason"; empty when all answer. */
export async function probeCluster(
  servers: readonly ClusterServer[] = ALL_SERVERS,
  env: ClusterEnv = clusterEnv(),
): Promise<string[]> {
  return (await unreachable(servers, env)).map(({ name, address, reason }) => `${name} (${address}): ${reason}`);
}

/** The servers that do not answer, with where they were looked for and why they did not answer. */
async function unreachable(servers: readonly ClusterServer[], env: ClusterEnv): Promise<Array<{ name: string; address: string; reason: string }>> {
  const probes: Array<Promise<{ name: string; address: string; reason: string } | undefined>> = [];
  const check = (name: string, address: string, p: () => Promise<void>): void => {
    probes.push(
      p().then(
        () => undefined,
        (err: unknown) => ({ name, address, reason: err instanceof Error ? err.message : String(err) }),
      ),
    );
  };
  const kafka = env.kafkaBrokers[0] ?? DEFAULTS.KAFKA_BROKERS;
  const sasl = env.kafkaSaslBrokers[0] ?? DEFAULTS.KAFKA_SASL_BROKERS;
  const cassandra = env.cassandraContactPoints[0] ?? DEFAULTS.CASSANDRA_CONTACT_POINTS;
  if (servers.includes('kafka')) {
    check('Kafka', kafka, () => tcpProbe(kafka, 9092));
    check('Kafka SASL listener', sasl, () => tcpProbe(sasl, 9094));
  }
  if (servers.includes('registry')) {
    check('Schema Registry', `${env.registryUrl}/subjects`, () => httpProbe(`${env.registryUrl}/subjects`));
  }
  if (servers.includes('cassandra')) {
    check('Cassandra', cassandra, () => tcpProbe(cassandra, 9042));
  }
  return (await Promise.all(probes)).filter((m): m is { name: string; address: string; reason: string } => m !== undefined);
}

/**
 * The one short line a skipped test prints: which servers are down and the
 * command that starts them. Addresses and connection errors, the same for
 * every test of a run, are left out (under CI=true the failure gives them).
 *
 * @example
 *   skipLine(['Kafka', 'Kafka SASL listener', 'Cassandra'], 'npm run cluster:up'); // 'servers down: Kafka, Cassandra; npm run cluster:up'
 */
export function skipLine(down: readonly string[], start: string): string {
  // Kafka down says its SASL listener is too.
  const names = down.filter((name) => !(name === 'Kafka SASL listener' && down.includes('Kafka')));
  return `servers down: ${names.join(', ')}; ${start}`;
}

/**
 * True when Kafka, the Schema Registry and Cassandra all answer (or just the
 * listed `servers`, e.g. a test that stops Cassandra on purpose). Otherwise:
 * in CI (CI=true) throws, so the test fails; elsewhere marks the test
 * skipped and returns false (the caller should return at once).
 */
export async function requireCluster(
  t: TestContext,
  servers: readonly ClusterServer[] = ALL_SERVERS,
): Promise<boolean> {
  const down = await unreachable(servers, clusterEnv());
  if (down.length === 0) return true;
  if (process.env.CI === 'true') {
    const what = down.map(({ name, address, reason }) => `${name} (${address}): ${reason}`).join('; ');
    throw new Error(
      `test servers unreachable: ${what}. CI must run them: scripts/cluster/up.sh (npm run cluster:up) before the tests.`,
    );
  }
  t.skip(skipLine(down.map(({ name }) => name), 'npm run cluster:up'));
  return false;
}

/**
 * True when OpenSearch answers at OPENSEARCH_URL. Otherwise, like
 * requireCluster: throws under CI=true, else skips the test and returns false.
 *
 * @example
 *   test('indexes tides', async (t) => {
 *     if (!(await requireOpenSearch(t))) return;
 *     const res = await fetch(`${clusterEnv().opensearchUrl}/_cluster/health`);
 *   });
 */
export async function requireOpenSearch(t: TestContext, env: ClusterEnv = clusterEnv()): Promise<boolean> {
  try {
    await httpProbe(`${env.opensearchUrl}/`);
    return true;
  } catch (err) {
    const what = `OpenSearch (${env.opensearchUrl}): ${err instanceof Error ? err.message : String(err)}`;
    if (process.env.CI === 'true') {
      throw new Error(
        `test server unreachable: ${what}. CI must run it: bash scripts/cluster/up.sh opensearch before the tests.`,
      );
    }
    t.skip(skipLine(['OpenSearch'], 'bash scripts/cluster/up.sh opensearch'));
    return false;
  }
}

/**
 * A Cassandra client for test assertions. Unlike the driver's default
 * reconnection backoff (growing to minutes), it finds the server again within
 * seconds after an outage test restarted it.
 */
export function testCassandraClient(): Client {
  const { cassandraContactPoints, cassandraLocalDc } = clusterEnv();
  return new Client({
    contactPoints: cassandraContactPoints,
    localDataCenter: cassandraLocalDc,
    policies: { reconnection: new policies.reconnection.ExponentialReconnectionPolicy(250, 5_000, false) },
  });
}

/**
 * A throw-away keyspace for one test file: an admin client on demand, and the
 * keyspace dropped (and the client shut down) after the file's tests.
 */
export function scratchKeyspace(suffix = ''): { keyspace: string; adminClient(): Promise<Client> } {
  const keyspace = `tideflow_test_${Date.now()}${suffix ? `_${suffix}` : ''}`;
  let admin: Client | null = null;
  after(async () => {
    if (!admin) return;
    await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await admin.shutdown();
  });
  return {
    keyspace,
    adminClient: async () => {
      if (!admin) {
        admin = testCassandraClient();
        await admin.connect();
      }
      return admin;
    },
  };
}
