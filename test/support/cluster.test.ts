import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { requireCluster, skipLine } from './cluster';

/** Addresses where nothing listens (ports below 1024 no server here uses). */
const NOWHERE = {
  KAFKA_BROKERS: '127.0.0.1:1',
  KAFKA_SASL_BROKERS: '127.0.0.1:2',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:3/apis/ccompat/v7',
  CASSANDRA_CONTACT_POINTS: '127.0.0.1:4',
};

async function withEnvironment<T>(values: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  const set = (entries: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  set(values);
  try {
    return await body();
  } finally {
    set(saved);
  }
}

test('a real-server test skipped locally says so in one short line, the same for every test', async () => {
  const skips: string[] = [];
  const context = { skip: (message: string) => skips.push(message) } as unknown as TestContext;
  const ready = await withEnvironment({ ...NOWHERE, CI: undefined }, () => requireCluster(context));
  assert.equal(ready, false);
  assert.deepEqual(skips, ['servers down: Kafka, Schema Registry, Cassandra; npm run cluster:up']);
  assert.equal(skipLine(['Kafka SASL listener'], 'npm run cluster:up'), 'servers down: Kafka SASL listener; npm run cluster:up');
});

test('under CI=true an unreachable server fails the test, with every address and reason', async () => {
  const context = { skip: () => assert.fail('CI never skips') } as unknown as TestContext;
  await withEnvironment({ ...NOWHERE, CI: 'true' }, () =>
    assert.rejects(requireCluster(context, ['cassandra']), /test servers unreachable: Cassandra \(127\.0\.0\.1:4\): connect ECONNREFUSED 127\.0\.0\.1:4\. CI must run them/),
  );
});
