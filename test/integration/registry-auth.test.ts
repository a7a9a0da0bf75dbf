// Schema Registry basic auth (`format.avro.basicAuth`), as managed registries
// require it. The local Apicurio has no basic auth of its own (it needs an OIDC
// server for that), so a loopback HTTP proxy in front of it checks the
// Authorization header the way a registry does and forwards accepted requests
// to the real Confluent-compatible API: the schemas decoded here come from
// Apicurio. Skipped locally when the servers are down; fails in CI.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as avro from 'avsc';
import { encodeConfluent } from '../../engine/codecs/confluent-avro';
import { SchemaRegistry } from '../../engine/codecs/registry';
import { ExternalError } from '../../engine/core/errors';
import { createKafkaAvroDecoder } from '../../engine/codecs/kafka-avro-decoder';
import { clusterEnv, requireCluster } from '../support/cluster';
import { rowsOf } from '../../engine/codecs/decoder';

const env = clusterEnv();
const USER = 'registry-user';
const SECRET = 'registry-secret-7Q';

/** A proxy to the real registry that answers 401 (Confluent's error body) unless the request carries USER:SECRET. */
async function authenticatingProxy(): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const target = new URL(env.registryUrl);
  const expected = `Basic ${Buffer.from(`${USER}:${SECRET}`).toString('base64')}`;
  const seen: string[] = [];
  const server = http.createServer((request, response) => {
    const authorization = request.headers.authorization ?? '(none)';
    seen.push(authorization === expected ? 'accepted' : 'refused');
    if (authorization !== expected) {
      response.writeHead(401, { 'content-type': 'application/vnd.schemaregistry.v1+json', 'www-authenticate': 'Basic realm="registry"' });
      response.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    const headers = { ...request.headers, host: target.host };
    delete headers.authorization;
    const upstream = http.request({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', (error) => {
      response.writeHead(502);
      response.end(error.message);
    });
    request.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const schema = {
  type: 'record',
  name: 'AuthProbe',
  namespace: 'tideflow.test',
  fields: [
    { name: 'station', type: 'string' },
    { name: 't', type: 'long' },
    { name: 'v', type: ['null', 'double'], default: null },
  ],
};

test('registry basic auth: the decoder reads writer schemas with the credentials; wrong ones fail once, clearly, without the password', async (t) => {
  if (!(await requireCluster(t))) return;
  const proxy = await authenticatingProxy();
  try {
    // Registered straight with the registry, as a producer would.
    const direct = new SchemaRegistry({ url: env.registryUrl });
    const id = await direct.register(`tideflow-test-auth-${Date.now()}-value`, schema);
    const type = avro.Type.forSchema(schema as avro.Schema);
    const rows = [
      { station: '8454000', t: 1_700_000_000_000, v: 1.25 },
      { station: '8454000', t: 1_700_000_360_000, v: null },
    ];
    const raw = {
      payloads: rows.map((row) => encodeConfluent(id, type, row)),
      offsets: Float64Array.from([0, 1]),
      source: { partition: 'auth/0', fromOffset: 0, toOffset: 2 },
    };

    const format = { kind: 'avro-registry' as const, registryUrl: proxy.url, readerSchema: '' };
    const good = createKafkaAvroDecoder({ ...format, basicAuth: { username: USER, password: SECRET } }, type);
    const decoded = rowsOf(await good.decode(raw));
    assert.deepEqual(decoded.deadLetters, []);
    assert.deepEqual(decoded.rows, rows);
    assert.ok(proxy.seen.includes('accepted'), 'the schema came through the authenticating proxy');
    assert.ok(!proxy.seen.includes('refused'), `every request carried the credentials: ${proxy.seen.join(', ')}`);
    await good.close?.();

    // Wrong password: refused access is configuration, not an outage (no retries, no dead letters).
    const before = proxy.seen.length;
    const wrong = createKafkaAvroDecoder({ ...format, basicAuth: { username: USER, password: 'not-the-secret' } }, type);
    await assert.rejects(
      () => wrong.decode(raw),
      (error: unknown) => {
        assert.ok(error instanceof ExternalError, String(error));
        assert.equal(error.retriable, false);
        assert.match(error.message, /refused access \(HTTP 401\): check basicAuth/);
        assert.doesNotMatch(error.message, /not-the-secret/);
        return true;
      },
    );
    assert.deepEqual(proxy.seen.slice(before), ['refused'], 'asked once, not retried');
    await wrong.close?.();
  } finally {
    await proxy.close();
  }
});
