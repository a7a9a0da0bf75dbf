/**
 * What the part-B fault scenarios (servers stopped under a running job) need
 * beside test/faults/harness.ts: stopping and starting one server of the
 * cluster the test talks to, watching a consumer group's committed offsets,
 * sampling the engine's resident memory, and a TCP proxy that plays a
 * Schema Registry outage without touching the shared registry.
 *
 *   const servers = outageCluster();                 // null: stopping servers is not allowed here
 *   await servers.down('cassandra');                 // bash scripts/cluster/down.sh cassandra (same cluster as the env)
 *   const rss = sampleRss(cli.child.pid!);           // VmRSS every 200 ms
 *   await servers.up('cassandra');
 *   rss.stop(); rss.peakBytes;
 *
 * Which cluster: the endpoints come from the environment (clusterEnv()); the
 * scripts pick their servers from CLUSTER_NAME / PORT_OFFSET (the private
 * cluster's .cluster-<name>/env sets both). `outageCluster()` checks that the
 * two agree, so a test never stops one cluster while reading another.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Transform } from 'node:stream';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Kafka } from 'kafkajs';
import { clusterEnv, hostPort, probeCluster, type ClusterServer } from '../support/cluster';
import { ROOT } from './harness';

const run = promisify(execFile);

export { sleep };

// ---------------------------------------------------------------- stopping and starting servers

export interface OutageCluster {
  /** `default` or the CLUSTER_NAME of a private cluster. */
  readonly name: string;
  /** Stops one server with scripts/cluster/down.sh; resolves when it is down (ms taken). */
  down(server: ClusterServer): Promise<number>;
  /** Starts it again with scripts/cluster/up.sh; resolves when it is ready (ms taken). */
  up(server: ClusterServer): Promise<number>;
}

/** Default ports of the cluster scripts (scripts/cluster/lib.sh), before PORT_OFFSET. */
const BASE_PORTS: Record<ClusterServer, number> = { kafka: 9092, registry: 8081, cassandra: 9042 };

/**
 * The cluster whose servers these tests may stop, or why not (a string).
 *
 * Stopping servers is allowed in CI (CI=true: the suite owns the one cluster
 * and runs alone), on a private cluster (CLUSTER_NAME set, e.g. from
 * .cluster-faults/env), or when TIDEFLOW_FAULTS_STOP_SERVERS=1 says so. A
 * developer's `npm test` against the shared cluster skips these scenarios
 * rather than take the servers away from everybody else.
 */
export function outageCluster(): OutageCluster | string {
  const name = process.env.CLUSTER_NAME?.trim() || 'default';
  const offset = Number(process.env.PORT_OFFSET?.trim() || '0');
  const allowed = process.env.CI === 'true' || name !== 'default' || process.env.TIDEFLOW_FAULTS_STOP_SERVERS === '1';
  if (!allowed) {
    return (
      'these scenarios stop and restart servers; run them on a private cluster ' +
      '(CLUSTER_NAME=faults PORT_OFFSET=100 bash scripts/cluster/up.sh; set -a; . .cluster-faults/env; set +a), ' +
      'in CI (CI=true), or set TIDEFLOW_FAULTS_STOP_SERVERS=1 to stop the default cluster\'s servers'
    );
  }
  // The endpoints the test uses must be the servers the scripts stop.
  const env = clusterEnv();
  const ports: Record<ClusterServer, number> = {
    kafka: hostPort(env.kafkaBrokers[0], 9092).port,
    registry: Number(new URL(env.registryUrl).port || 80),
    cassandra: hostPort(env.cassandraContactPoints[0], 9042).port,
  };
  for (const server of Object.keys(BASE_PORTS) as ClusterServer[]) {
    if (ports[server] !== BASE_PORTS[server] + offset) {
      return (
        `the ${server} endpoint (port ${ports[server]}) is not the server scripts/cluster would stop for ` +
        `CLUSTER_NAME=${name} PORT_OFFSET=${offset} (port ${BASE_PORTS[server] + offset}); load that cluster's env file`
      );
    }
  }
  const script = async (action: 'up' | 'down', server: ClusterServer): Promise<number> => {
    const started = Date.now();
    try {
      await run('bash', [join(ROOT, 'scripts', 'cluster', `${action}.sh`), server], {
        cwd: ROOT,
        env: { ...process.env, CLUSTER_NAME: name === 'default' ? '' : name, PORT_OFFSET: String(offset) },
        timeout: 360_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${action}.sh ${server} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
    return Date.now() - started;
  };
  return { name, down: (server) => script('down', server), up: (server) => script('up', server) };
}

/**
 * Whatever happened, every server is running and answering when this
 * resolves (a `finally` of every scenario): later test files need them.
 */
export async function ensureAllUp(cluster: OutageCluster): Promise<void> {
  for (const server of ['cassandra', 'kafka', 'registry'] as ClusterServer[]) {
    if ((await probeCluster([server])).length > 0) await cluster.up(server);
  }
}

// ---------------------------------------------------------------- a Cassandra node of its own

export interface PrivateCassandra {
  /** host:port of its native (CQL) port. */
  contactPoint: string;
  /** How long up.sh took (ms): a first start also resolves the classpath. */
  startMs: number;
  /** Stops the node (down.sh); its data stays in .cluster-<name>/ for the next start. */
  stop(): Promise<void>;
}

/**
 * Starts a Cassandra node beside the test cluster, set up differently
 * (`settings`: scripts/cluster/lib.sh variables such as
 * CASSANDRA_AUTHENTICATOR), as a private cluster of one: CLUSTER_NAME=`name`,
 * every port + `offset`. The shared cluster is not touched.
 *
 * @example
 *   const node = await startPrivateCassandra('auth', 200, { CASSANDRA_AUTHENTICATOR: 'PasswordAuthenticator' });
 *   try { ... node.contactPoint ... } finally { await node.stop(); }
 */
export async function startPrivateCassandra(name: string, offset: number, settings: Record<string, string>): Promise<PrivateCassandra> {
  const env = { ...process.env, ...settings, CLUSTER_NAME: name, PORT_OFFSET: String(offset) };
  const script = async (action: 'up' | 'down') => {
    try {
      await run('bash', [join(ROOT, 'scripts', 'cluster', `${action}.sh`), 'cassandra'], { cwd: ROOT, env, timeout: 360_000, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${action}.sh cassandra (CLUSTER_NAME=${name}) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  };
  const started = Date.now();
  await script('up');
  return { contactPoint: `127.0.0.1:${BASE_PORTS.cassandra + offset}`, startMs: Date.now() - started, stop: () => script('down') };
}

// ---------------------------------------------------------------- Kafka offsets

/** A consumer group's committed offsets on a topic, per partition (-1: none yet). */
export async function committedOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(entry.partitions.map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The topic's end offsets (high watermarks) per partition. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Sum over partitions (-1, i.e. nothing committed, counts as 0). */
export function total(offsets: Map<number, number>): number {
  let sum = 0;
  for (const offset of offsets.values()) sum += Math.max(0, offset);
  return sum;
}

/** Every partition of `a` is at or past `b`'s offset. */
export function reached(a: Map<number, number>, b: Map<number, number>): boolean {
  for (const [partition, offset] of b) if ((a.get(partition) ?? -1) < offset) return false;
  return true;
}

/** Partitions where `a` is past `b` ("offset 120 > 100 on partition 2"). */
export function aheadOf(a: Map<number, number>, b: Map<number, number> | Record<number, number>): string[] {
  const other = b instanceof Map ? b : new Map(Object.entries(b).map(([k, v]) => [Number(k), v]));
  const out: string[] = [];
  for (const [partition, offset] of a) {
    const limit = other.get(partition) ?? 0;
    if (offset > limit) out.push(`partition ${partition}: ${offset} > ${limit}`);
  }
  return out;
}

/** Checkpoint positions (`topic/3` -> offset) of one topic as partition -> offset. */
export function topicPositions(positions: Record<string, number>, topic: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const [key, offset] of Object.entries(positions)) {
    if (key.startsWith(`${topic}/`)) out.set(Number(key.slice(topic.length + 1)), offset);
  }
  return out;
}

/**
 * Polls `probe` until it returns a value (not undefined), or throws after
 * `timeoutMs` with `what` in the message. Probe errors count as "not yet"
 * (a server may be restarting); the last one is in the timeout message.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- memory

export interface RssSampler {
  /** Highest VmRSS seen so far (bytes). */
  readonly peakBytes: number;
  readonly samples: number;
  /** Last sample (bytes); 0 before the first. */
  readonly lastBytes: number;
  stop(): void;
}

/** VmRSS of a process (bytes), or null when it is gone. */
export function residentBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's resident memory from /proc/<pid>/status until stopped or the process exits. */
export function sampleRss(pid: number, intervalMs = 200): RssSampler {
  const state = { peakBytes: 0, samples: 0, lastBytes: 0 };
  const take = () => {
    const bytes = residentBytes(pid);
    if (bytes === null) return;
    state.samples++;
    state.lastBytes = bytes;
    if (bytes > state.peakBytes) state.peakBytes = bytes;
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    get peakBytes() {
      return state.peakBytes;
    },
    get samples() {
      return state.samples;
    },
    get lastBytes() {
      return state.lastBytes;
    },
    stop: () => {
      take();
      clearInterval(timer);
    },
  };
}

export function megabytes(bytes: number): number {
  return Math.round(bytes / (1024 * 1024));
}

// ---------------------------------------------------------------- a registry outage without stopping the registry

/**
 * A TCP proxy on 127.0.0.1 in front of a server. `stop()` closes the
 * listener and cuts every open connection, so clients see connection
 * refused/reset exactly as if the server were down; `start()` opens the
 * same port again.
 *
 * With `bytesPerSecond` it is also a deliberately slow link: what clients
 * send is held back so that, over all connections together, at most that
 * many bytes per second reach the server (answers pass unthrottled). A
 * client that writes faster sees TCP backpressure, as from an overloaded
 * server.
 *
 * @example
 *   const proxy = new TcpProxy('127.0.0.1', 8181);
 *   await proxy.start();                      // proxy.port: where clients connect
 *   await proxy.stop();                       // outage
 *   new TcpProxy('127.0.0.1', 9042, { bytesPerSecond: 512 * 1024 });   // a slow Cassandra
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private listenPort = 0;
  /** When the throttled link is free again (ms since the epoch). */
  private linkFreeAt = 0;
  /** Connections accepted while up (refused ones never reach us). */
  connections = 0;
  /** Bytes passed from clients to the server. */
  bytesUp = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly options: { bytesPerSecond?: number } = {},
  ) {}

  get port(): number {
    return this.listenPort;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Listens (on the same port as before after a stop; a free port the first time). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(this.throttle()).pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => resolve());
    });
    this.listenPort = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Counts the bytes a client sends and, with a rate, delays each chunk until the shared link has room for it. */
  private throttle(): Transform {
    const rate = this.options.bytesPerSecond;
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.bytesUp += chunk.length;
        if (!rate) return done(null, chunk);
        const now = Date.now();
        const start = Math.max(now, this.linkFreeAt);
        this.linkFreeAt = start + (chunk.length * 1000) / rate;
        // Not before the chunk's share of the link has passed: one big chunk cannot jump the queue.
        setTimeout(() => done(null, chunk), this.linkFreeAt - now);
      },
    });
  }

  /** Refuses new connections and resets open ones. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }
}
