/**
 * A Kafka broker of a test's own (scripts/cluster/up.sh as a private cluster:
 * CLUSTER_NAME=`name`, every port + `offset`), with listeners reached only
 * through TCP proxies the test can cut.
 *
 * Kafka clients bootstrap, then connect to the address the broker advertises
 * for the listener they came in on, so a proxy in front of the default
 * listener would be bypassed after the first request. Each proxied listener
 * here is advertised at its proxy's port (up.sh's KAFKA_EXTRA_LISTENERS): a
 * client given `proxied.CUT.address` talks to the broker through that proxy
 * only, while everybody else uses `brokers` directly.
 *
 *   const kafka = await privateKafka('cutoff', 400, ['CUT']);
 *   try {
 *     await kafka.start();                // up.sh kafka, KAFKA_EXTRA_LISTENERS=CUT=9496:<proxy port>
 *     kafka.brokers;                      // 127.0.0.1:9492, direct
 *     kafka.proxied.CUT.address;          // 127.0.0.1:<proxy port>, cut with kafka.proxied.CUT.proxy.cut()
 *   } finally {
 *     await kafka.stop();                 // down.sh kafka, proxies closed
 *   }
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CuttableProxy } from './cuttable-proxy';
import { ROOT } from './run-local';

const run = promisify(execFile);

/** scripts/cluster/lib.sh's first Kafka port (PLAINTEXT), before PORT_OFFSET; the four after it are taken. */
const KAFKA_BASE_PORT = 9092;

export interface ProxiedListener {
  /** host:port clients are given: the proxy, which the broker also advertises. */
  readonly address: string;
  readonly proxy: CuttableProxy;
}

export interface PrivateKafka {
  /** host:port of its PLAINTEXT listener, reached directly (known before `start`). */
  readonly brokers: string;
  /** One per listener name asked for; the proxies listen from the moment this object exists. */
  readonly proxied: Record<string, ProxiedListener>;
  /**
   * Starts the broker (up.sh kafka); resolves with the ms it took (a first
   * start also resolves the classpath and formats the storage). A broker of
   * this private cluster still running from an earlier run is stopped first:
   * its listeners point at proxies that are gone.
   */
  start(): Promise<number>;
  /** Stops the broker (down.sh kafka; its data stays in .cluster-<name>/) and closes the proxies. */
  stop(): Promise<void>;
}

/**
 * The broker's addresses and one proxied listener per name (upper case,
 * e.g. `CUT`); `start()` starts the broker itself, so a test can prepare
 * what does not need Kafka meanwhile.
 *
 * @example
 *   const kafka = await privateKafka('cutoff', 400, ['CUT']);
 *   const ready = kafka.start();
 *   ...
 *   await ready;
 */
export async function privateKafka(name: string, offset: number, listeners: string[]): Promise<PrivateKafka> {
  const proxies: Record<string, ProxiedListener> = {};
  const extra: string[] = [];
  const script = async (action: 'up' | 'down', extraListeners: string) => {
    try {
      await run('bash', [join(ROOT, 'scripts', 'cluster', `${action}.sh`), 'kafka'], {
        cwd: ROOT,
        env: { ...process.env, CLUSTER_NAME: name, PORT_OFFSET: String(offset), KAFKA_EXTRA_LISTENERS: extraListeners },
        timeout: 360_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${action}.sh kafka (CLUSTER_NAME=${name}) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  };
  const closeProxies = async () => {
    await Promise.all(Object.values(proxies).map(({ proxy }) => proxy.close()));
  };
  try {
    for (const [index, listener] of listeners.entries()) {
      // The ports after the broker's own four (PLAINTEXT, controller, SASL, TLS).
      const listenPort = KAFKA_BASE_PORT + offset + 4 + index;
      const proxy = new CuttableProxy('127.0.0.1', listenPort);
      await proxy.start();
      proxies[listener] = { address: `127.0.0.1:${proxy.port}`, proxy };
      extra.push(`${listener}=${listenPort}:${proxy.port}`);
    }
  } catch (error) {
    await closeProxies();
    throw error;
  }
  return {
    brokers: `127.0.0.1:${KAFKA_BASE_PORT + offset}`,
    proxied: proxies,
    start: async () => {
      await script('down', '');
      const started = Date.now();
      await script('up', extra.join(','));
      return Date.now() - started;
    },
    stop: async () => {
      try {
        await script('down', '');
      } finally {
        await closeProxies();
      }
    },
  };
}
