import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { join } from 'node:path';
import { errors as clientErrors } from '@opensearch-project/opensearch';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { engineExpressionParser } from '../jobfile/expression-parser';
import { createAjv } from '../jobfile/keywords';
import { ExternalError, UsageError } from '../core/errors';
import type { Row } from '../core/batch';
import type { SearchField } from './opensearch-mapping';
import {
  IndexMappingConflictError,
  normalize,
  OpenSearchSink,
  redactUrl,
  rejectedDocumentDeadLetter,
  schema,
  toExternalError,
  type OpenSearchSinkOptions,
  type OpenSearchSinkSpec,
} from './opensearch-sink';

// The sink's index preparation, batching, backpressure, per-item and retry
// logic against a tiny fake of the HTTP API; the real server is exercised in
// test/integration/opensearch-sink.test.ts.

interface BulkDocument {
  index: string;
  id: string;
  version: number;
  source: Row;
}

interface Reply {
  status: number;
  body: unknown;
}

/** Answers the few endpoints the sink calls, keeping index mappings; bulk requests go to `onBulk`. */
class FakeOpenSearch {
  readonly requests: Array<{ method: string; path: string; body: string; authorization?: string }> = [];
  readonly bulks: BulkDocument[][] = [];
  readonly mappings = new Map<string, { properties: Record<string, unknown> }>();
  readonly templates = new Map<string, unknown>();
  inFlightBulks = 0;
  maxInFlightBulks = 0;
  onBulk: (documents: BulkDocument[], call: number) => Promise<Reply> | Reply = (documents) => ({ status: 200, body: allCreated(documents) });
  private server: Server | null = null;
  url = '';

  /** Plain HTTP, or HTTPS with a certificate and its key. */
  async start(tls?: { cert: string; key: string }): Promise<void> {
    const handler = (request: IncomingMessage, response: ServerResponse) => void this.handle(request, response);
    this.server = tls ? createTlsServer(tls, handler) : createServer(handler);
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    after(() => this.server?.close());
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of request) body += chunk;
    const path = decodeURIComponent(new URL(request.url!, 'http://x').pathname);
    this.requests.push({ method: request.method!, path, body, authorization: request.headers.authorization });
    const reply = await this.route(request.method!, path, body);
    response.writeHead(reply.status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(reply.body));
  }

  private async route(method: string, path: string, body: string): Promise<Reply> {
    const parts = path.split('/').filter((part) => part !== '');
    if (method === 'POST' && parts[0] === '_bulk') {
      const lines = body.split('\n').filter((line) => line !== '');
      const documents: BulkDocument[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const action = JSON.parse(lines[i]).index;
        documents.push({ index: action._index, id: action._id, version: action.version, source: JSON.parse(lines[i + 1]) });
      }
      this.bulks.push(documents);
      this.inFlightBulks++;
      this.maxInFlightBulks = Math.max(this.maxInFlightBulks, this.inFlightBulks);
      try {
        return await this.onBulk(documents, this.bulks.length);
      } finally {
        this.inFlightBulks--;
      }
    }
    if ((method === 'PUT' || method === 'POST') && parts[0] === '_index_template') {
      this.templates.set(parts[1], JSON.parse(body));
      return { status: 200, body: { acknowledged: true } };
    }
    if (method === 'GET' && parts[1] === '_mapping') {
      const pattern = new RegExp(`^${parts[0].replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
      const found: Record<string, unknown> = {};
      for (const [index, mappings] of this.mappings) if (pattern.test(index)) found[index] = { mappings };
      if (Object.keys(found).length === 0 && !parts[0].includes('*')) {
        return { status: 404, body: { error: { type: 'index_not_found_exception', reason: `no such index [${parts[0]}]` }, status: 404 } };
      }
      return { status: 200, body: found };
    }
    if (method === 'PUT' && parts.length === 1) {
      if (this.mappings.has(parts[0])) return { status: 400, body: { error: { type: 'resource_already_exists_exception', reason: 'exists' }, status: 400 } };
      this.mappings.set(parts[0], JSON.parse(body).mappings);
      return { status: 200, body: { acknowledged: true, index: parts[0] } };
    }
    if ((method === 'PUT' || method === 'POST') && parts[1] === '_mapping') {
      const mapping = this.mappings.get(parts[0])!;
      Object.assign(mapping.properties, JSON.parse(body).properties);
      return { status: 200, body: { acknowledged: true } };
    }
    return { status: 400, body: { error: { type: 'unexpected', reason: `${method} ${path}` } } };
  }
}

function allCreated(documents: BulkDocument[]): unknown {
  return { errors: false, items: documents.map((document) => ({ index: { _index: document.index, _id: document.id, status: 201 } })) };
}

const FIELDS: SearchField[] = [
  { name: 'station', type: 'keyword' },
  { name: 'window_start', type: 'timestamp' },
  { name: 'mean', type: 'double' },
  { name: 'count', type: 'long' },
];

function spec(url: string, overrides: Partial<OpenSearchSinkSpec> = {}): OpenSearchSinkSpec {
  return { nodes: [url], index: 'tides', fieldTypes: {}, createIndex: true, bulkDocuments: 2000, bulkBytes: 5 * 1024 * 1024, concurrency: 2, requestTimeoutMs: 5000, ...overrides };
}

function options(overrides: Partial<OpenSearchSinkOptions> = {}): OpenSearchSinkOptions {
  return { timestampFields: new Set(), fields: FIELDS, idFields: ['station', 'window_start'], retry: { initialDelayMs: 5, maxDelayMs: 20 }, ...overrides };
}

function rows(count: number, from = 0): Row[] {
  return Array.from({ length: count }, (_, i) => ({ station: `s${(from + i) % 7}`, window_start: new Date((from + i) * 1000), mean: (from + i) / 4, count: from + i }));
}

async function fake(): Promise<FakeOpenSearch> {
  const server = new FakeOpenSearch();
  await server.start();
  return server;
}

// ---------------------------------------------------------------- config

test('schema + normalize: defaults filled in, durations in ms, geoPoint forms', () => {
  const validate = createAjv(engineExpressionParser).compile(schema);
  const raw = { nodes: 'http://a:9200, https://b:9200', index: 'tides-{window_start:yyyy.MM}', fieldTypes: { name: 'text' }, geoPoint: { field: 'position' }, tls: { caFile: 'ca.pem' } };
  assert.ok(validate(raw), JSON.stringify(validate.errors));
  assert.deepEqual(normalize(raw as never, { job: 'j' }), {
    nodes: ['http://a:9200', 'https://b:9200'],
    index: 'tides-{window_start:yyyy.MM}',
    fieldTypes: { name: 'text' },
    geoPoint: { field: 'position', lat: 'lat', lon: 'lon' },
    createIndex: true,
    bulkDocuments: 2000,
    bulkBytes: 5 * 1024 * 1024,
    concurrency: 2,
    requestTimeoutMs: 30_000,
    caFile: 'ca.pem',
  });
  assert.equal(normalize({ nodes: 'http://a', index: 'x', geoPoint: false } as never, { job: 'j' }).geoPoint, false);
  assert.equal('geoPoint' in normalize({ nodes: 'http://a', index: 'x', geoPoint: true } as never, { job: 'j' }), false);
  for (const bad of [
    { nodes: 'a:9200', index: 'x' },
    { nodes: 'http://a', index: 'Tides' },
    { nodes: 'http://a', index: 'x', fieldTypes: { name: 'string' } },
    { nodes: 'http://a', index: 'x', id: [] },
    { nodes: 'http://a', index: 'x', requestTimeout: '0s' },
    { nodes: 'http://a', index: 'x', extra: 1 },
  ]) {
    assert.equal(validate(bad), false, JSON.stringify(bad));
  }
});

test('a sink without id fields refuses to start: without them a replay would duplicate documents', () => {
  assert.throws(
    () => new OpenSearchSink(spec('http://127.0.0.1:1'), 'main', options({ idFields: undefined })),
    (error: unknown) => error instanceof UsageError && /set id: \[\.\.\.\] in the sink/.test(error.message),
  );
});

test('redactUrl: user and password never reach a message', () => {
  assert.equal(redactUrl('https://admin:s3cret@search.example:9200/'), 'https://search.example:9200');
  assert.equal(redactUrl('http://127.0.0.1:9200'), 'http://127.0.0.1:9200');
});

test('toExternalError: outages are retriable (connection, timeout, 429/502/503/504), refusals and TLS mistakes are not', () => {
  const response = (statusCode: number, body: unknown) => new clientErrors.ResponseError({ statusCode, body, headers: {}, meta: {} as never, warnings: null });
  const cases: Array<[unknown, boolean, RegExp]> = [
    [new clientErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'), true, /^cannot index: connect ECONNREFUSED/],
    [new clientErrors.TimeoutError('Request timed out', {} as never), true, /Request timed out/],
    [new clientErrors.NoLivingConnectionsError('There are no living connections', {} as never), true, /no living connections/],
    [response(429, { error: { type: 'circuit_breaking_exception', reason: '[parent] Data too large' } }), true, /429 circuit_breaking_exception: \[parent\] Data too large/],
    [response(503, { error: { type: 'cluster_block_exception', reason: 'blocked' } }), true, /503 cluster_block_exception/],
    [response(504, 'gateway timeout'), true, /504 gateway timeout/],
    [response(400, { error: { type: 'illegal_argument_exception', reason: 'bad' } }), false, /400 illegal_argument_exception: bad/],
    [response(403, { error: { type: 'security_exception', reason: 'no permissions for [indices:data/write/bulk]' } }), false, /forbidden .*needs write and index-management permissions/],
    [new clientErrors.ConnectionError('self-signed certificate'), false, /TLS: the node's certificate is not accepted .*tls\.caFile.*NODE_EXTRA_CA_CERTS/],
    [new clientErrors.ConnectionError('write EPROTO ...:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'), false, /TLS/],
    [new Error('something else'), false, /something else/],
  ];
  for (const [error, retriable, message] of cases) {
    const external = toExternalError(error, 'index');
    assert.ok(external instanceof ExternalError);
    assert.equal(external.retriable, retriable, external.message);
    assert.match(external.message, message);
  }
});

// ---------------------------------------------------------------- index preparation

test('open creates a missing index with the derived mapping and the requested shards/replicas', async () => {
  const server = await fake();
  const lines: string[] = [];
  const sink = new OpenSearchSink(spec(server.url, { replicas: 0, shards: 1 }), 'main', options({ log: (line) => lines.push(line) }));
  await sink.open();
  const create = server.requests.find((request) => request.method === 'PUT' && request.path === '/tides')!;
  assert.deepEqual(JSON.parse(create.body), {
    settings: { number_of_shards: 1, number_of_replicas: 0 },
    mappings: { dynamic: 'false', properties: { station: { type: 'keyword' }, window_start: { type: 'date' }, mean: { type: 'double' }, count: { type: 'long' } } },
  });
  assert.match(lines.join('\n'), /index tides created \(station keyword, window_start date, mean double, count long\)/);
  await sink.close();
});

test('open: an existing index that maps a field differently fails at once, naming the field (exit 2 kind)', async () => {
  const server = await fake();
  server.mappings.set('tides', { properties: { station: { type: 'keyword' }, mean: { type: 'text' } } });
  const sink = new OpenSearchSink(spec(server.url), 'main', options());
  await assert.rejects(sink.open(), (error: unknown) => {
    assert.ok(error instanceof IndexMappingConflictError && error instanceof UsageError);
    assert.deepEqual(error.conflicts, [{ field: 'mean', existing: 'text', wanted: 'double' }]);
    assert.match(error.message, /OpenSearch index tides maps field 'mean' as text \(the job writes double\)/);
    return true;
  });
  assert.equal(server.bulks.length, 0);
  await sink.close();
});

test('open: fields an existing index lacks are added to its mapping', async () => {
  const server = await fake();
  server.mappings.set('tides', { properties: { station: { type: 'keyword' }, other: { type: 'keyword' } } });
  const sink = new OpenSearchSink(spec(server.url), 'main', options());
  await sink.open();
  assert.deepEqual(Object.keys(server.mappings.get('tides')!.properties), ['station', 'other', 'window_start', 'mean', 'count']);
  await sink.close();
});

test('a templated index name: an index template for the pattern, documents routed by their month', async () => {
  const server = await fake();
  server.mappings.set('tides-2018.12', { properties: { station: { type: 'keyword' } } });
  const sink = new OpenSearchSink(spec(server.url, { index: 'tides-{window_start:yyyy.MM}' }), 'main', options());
  await sink.open();
  assert.deepEqual(server.templates.get('tideflow-tides-window_start'), {
    index_patterns: ['tides-*'],
    priority: 200,
    template: { settings: {}, mappings: { dynamic: 'false', properties: { station: { type: 'keyword' }, window_start: { type: 'date' }, mean: { type: 'double' }, count: { type: 'long' } } } },
  });
  // The index that already matched the pattern got the missing fields.
  assert.deepEqual(Object.keys(server.mappings.get('tides-2018.12')!.properties), ['station', 'window_start', 'mean', 'count']);
  await sink.write([
    { station: 'a', window_start: new Date('2019-01-31T23:00:00Z'), mean: 1, count: 1 },
    { station: 'a', window_start: new Date('2019-02-01T00:00:00Z'), mean: 1, count: 1 },
  ]);
  await sink.flush();
  assert.deepEqual(server.bulks[0].map((document) => document.index), ['tides-2019.01', 'tides-2019.02']);
  await sink.close();
});

test('without a field list the index is created at the first write, typed from its rows', async () => {
  const server = await fake();
  const sink = new OpenSearchSink(spec(server.url), 'dead-letters', options({ fields: undefined, idFields: ['stage', 'partition', 'offset'] }));
  await sink.open();
  assert.equal(server.mappings.size, 0);
  await sink.write([{ reason: 'bad', stage: 'decode', partition: 'p/0', offset: 7, payload: 'x' }]);
  await sink.flush();
  assert.deepEqual(server.mappings.get('tides')!.properties, {
    reason: { type: 'keyword' },
    stage: { type: 'keyword' },
    partition: { type: 'keyword' },
    offset: { type: 'double' },
    payload: { type: 'keyword' },
  });
  assert.equal(server.bulks[0][0].id, 'decode|p/0|7');
  await sink.close();
});

// ---------------------------------------------------------------- bulk requests

test('documents go in bulk requests of at most bulkDocuments; flush resolves when every one is stored', async () => {
  const server = await fake();
  const sink = new OpenSearchSink(spec(server.url, { bulkDocuments: 100 }), 'main', options());
  await sink.open();
  await sink.write(rows(250));
  await sink.flush();
  assert.deepEqual(server.bulks.map((bulk) => bulk.length), [100, 100, 50]);
  assert.equal(sink.documentsIndexed, 250);
  const first = server.bulks[0][0];
  assert.equal(first.id, 's0|1970-01-01T00:00:00.000Z');
  assert.deepEqual(first.source, { station: 's0', window_start: '1970-01-01T00:00:00.000Z', mean: 0, count: 0 });
  // Versions follow the write order, so a later write of a document wins.
  const versions = server.bulks.flat().map((document) => document.version);
  assert.deepEqual([...versions].sort((a, b) => a - b), versions);
  assert.equal(new Set(versions).size, versions.length);
  await sink.close();
});

test('bulkBytes bounds a request; a document larger than it goes alone', async () => {
  const server = await fake();
  const sink = new OpenSearchSink(spec(server.url, { bulkBytes: 2048 }), 'main', options());
  await sink.open();
  const small = rows(30);
  const big = { ...rows(1, 99)[0], note: 'x'.repeat(5000) };
  await sink.write([...small.slice(0, 15), big, ...small.slice(15)]);
  await sink.flush();
  for (const bulk of server.requests.filter((request) => request.path === '/_bulk')) {
    const documents = bulk.body.split('\n').filter(Boolean).length / 2;
    assert.ok(Buffer.byteLength(bulk.body) <= 2048 || documents === 1, `${Buffer.byteLength(bulk.body)} bytes in ${documents} documents`);
  }
  assert.equal(server.bulks.flat().length, 31);
  await sink.close();
});

test('backpressure: at most `concurrency` requests in flight, and write waits while they are', async () => {
  const server = await fake();
  let release: () => void = () => {};
  let gate = new Promise<void>((resolve) => (release = resolve));
  server.onBulk = async (documents) => {
    await gate;
    return { status: 200, body: allCreated(documents) };
  };
  const sink = new OpenSearchSink(spec(server.url, { bulkDocuments: 10, concurrency: 2 }), 'main', options());
  await sink.open();
  let written = false;
  // 2 requests in flight + 1 gathering = 30 documents taken; the 31st..40th must wait.
  const write = sink.write(rows(40)).then(() => (written = true));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(written, false);
  assert.equal(server.bulks.length, 2);
  release();
  gate = Promise.resolve();
  await write;
  await sink.flush();
  assert.equal(server.maxInFlightBulks, 2);
  assert.equal(sink.documentsIndexed, 40);
  await sink.close();
});

test('per item: a refused document becomes a dead letter with the server reason, a 429 item is sent again alone, nothing else is repeated', async () => {
  const server = await fake();
  server.onBulk = (documents, call) => {
    if (call > 1) return { status: 200, body: allCreated(documents) };
    return {
      status: 200,
      body: {
        errors: true,
        items: documents.map((document, i) => {
          if (i === 2) return { index: { _id: document.id, status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [mean] of type [double]', caused_by: { type: 'number_format_exception', reason: 'For input string: "oops"' } } } };
          if (i === 4 || i === 6) return { index: { _id: document.id, status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } };
          return { index: { _id: document.id, status: 201 } };
        }),
      },
    };
  };
  const rejected: Array<{ row: Row; reason: string }> = [];
  const sink = new OpenSearchSink(spec(server.url), 'main', options({ onRejected: (row, reason) => void rejected.push({ row, reason }) }));
  await sink.open();
  const input = rows(8);
  input[2] = { ...input[2], mean: 'oops' };
  await sink.write(input);
  await sink.flush();
  assert.deepEqual(server.bulks.map((bulk) => bulk.length), [8, 2]);
  assert.deepEqual(server.bulks[1].map((document) => document.id), [server.bulks[0][4].id, server.bulks[0][6].id]);
  // Sent again with the versions they were queued with.
  assert.deepEqual(server.bulks[1].map((document) => document.version), [server.bulks[0][4].version, server.bulks[0][6].version]);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].row, input[2]);
  assert.equal(
    rejected[0].reason,
    `OpenSearch index tides refused document s2|1970-01-01T00:00:02.000Z: 400 mapper_parsing_exception: failed to parse field [mean] of type [double] (caused by number_format_exception: For input string: "oops")`,
  );
  assert.equal(sink.documentsIndexed, 7);
  assert.equal(sink.documentsRejected, 1);
  assert.deepEqual(rejectedDocumentDeadLetter('main', input[2], rejected[0].reason), { payload: input[2], reason: rejected[0].reason, partition: 'sink:main', offset: -1, stage: 'sink:main' });
  await sink.close();
});

test('flush waits for the promise onRejected returns (the dead letter written before the checkpoint)', async () => {
  const server = await fake();
  server.onBulk = (documents) => ({ status: 200, body: { errors: true, items: documents.map(() => ({ index: { status: 400, error: { type: 'x', reason: 'y' } } })) } });
  let delivered = false;
  const sink = new OpenSearchSink(
    spec(server.url),
    'main',
    options({ onRejected: () => new Promise<void>((resolve) => setTimeout(() => ((delivered = true), resolve()), 100)) }),
  );
  await sink.open();
  await sink.write(rows(1));
  await sink.flush();
  assert.equal(delivered, true);
  await sink.close();
});

test('a refused document without a dead-letter output fails the sink: flush rejects, naming the document and the reason', async () => {
  const server = await fake();
  server.onBulk = (documents) => ({ status: 200, body: { errors: true, items: documents.map(() => ({ index: { status: 400, error: { type: 'mapper_parsing_exception', reason: 'bad' } } })) } });
  const sink = new OpenSearchSink(spec(server.url), 'main', options());
  await sink.open();
  await sink.write(rows(1));
  await assert.rejects(sink.flush(), (error: unknown) => error instanceof ExternalError && !error.retriable && /refused document s0\|.*mapper_parsing_exception: bad; the sink has no dead-letter output/.test(error.message));
  await sink.close();
});

test('whole-request 503 and 429 are retried with backoff until they pass; flush waits, and logs say so without credentials', async () => {
  const server = await fake();
  server.onBulk = (documents, call) => {
    if (call === 1) return { status: 503, body: { error: { type: 'cluster_block_exception', reason: 'state not recovered' }, status: 503 } };
    if (call === 2) return { status: 429, body: { error: { type: 'circuit_breaking_exception', reason: 'data too large' }, status: 429 } };
    return { status: 200, body: allCreated(documents) };
  };
  const lines: string[] = [];
  const sink = new OpenSearchSink(spec(server.url.replace('http://', 'http://admin:s3cret@')), 'main', options({ log: (line) => lines.push(line) }));
  await sink.open();
  await sink.write(rows(5));
  await sink.flush();
  assert.equal(server.bulks.length, 3);
  assert.equal(sink.documentsIndexed, 5);
  assert.equal(sink.retries, 2);
  assert.match(lines.join('\n'), /503 cluster_block_exception: state not recovered/);
  assert.match(lines.join('\n'), /succeeded again/);
  assert.ok(!lines.join('\n').includes('s3cret'));
  assert.ok(!sink.description.includes('s3cret'));
  // The credentials went to the server as basic auth.
  assert.equal(server.requests[0].authorization, `Basic ${Buffer.from('admin:s3cret').toString('base64')}`);
  await sink.close();
});

test('basic auth from the spec reaches the server; a 401 fails at once with a hint, never the password', async () => {
  const server = await fake();
  server.onBulk = () => ({ status: 401, body: { error: { type: 'security_exception', reason: 'missing authentication credentials' }, status: 401 } });
  const sink = new OpenSearchSink(spec(server.url, { auth: { username: 'writer', password: 'pa55' } }), 'main', options());
  await sink.open();
  await sink.write(rows(1));
  await assert.rejects(sink.flush(), (error: unknown) => {
    assert.ok(error instanceof ExternalError && !error.retriable);
    assert.match(error.message, /authentication failed \(401 security_exception: missing authentication credentials\); check the sink's auth/);
    assert.ok(!error.message.includes('pa55'));
    return true;
  });
  assert.equal(server.requests[0].authorization, `Basic ${Buffer.from('writer:pa55').toString('base64')}`);
  await sink.close();
});

test('a request over the size limit (413) is split until the one document that is too large, which is dead-lettered', async () => {
  const server = await fake();
  server.onBulk = (documents) => {
    if (documents.some((document) => typeof document.source.note === 'string') && documents.length >= 1) {
      return { status: 413, body: { error: { type: 'content_too_long_exception', reason: 'entity too large' }, status: 413 } };
    }
    return { status: 200, body: allCreated(documents) };
  };
  const rejected: string[] = [];
  const sink = new OpenSearchSink(spec(server.url), 'main', options({ onRejected: (row) => void rejected.push(String(row.station)) }));
  await sink.open();
  const input = rows(8);
  input[5] = { ...input[5], note: 'big' };
  await sink.write(input);
  await sink.flush();
  assert.deepEqual(rejected, ['s5']);
  assert.equal(sink.documentsIndexed, 7);
  // Every other document stored exactly once.
  const stored = server.bulks.filter((bulk) => !bulk.some((document) => 'note' in document.source)).flat();
  assert.deepEqual(stored.map((document) => document.id).sort(), input.filter((_, i) => i !== 5).map((row) => `${row.station}|${(row.window_start as Date).toISOString()}`).sort());
  await sink.close();
});

test('the server unreachable at start: open waits and retries until it answers', async () => {
  const server = await fake();
  const port = Number(new URL(server.url).port);
  // A port nothing listens on yet; a proxy to the fake opens on it after a while.
  const { createServer: createTcpServer, connect } = await import('node:net');
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const proxyPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const lines: string[] = [];
  const sink = new OpenSearchSink(spec(`http://127.0.0.1:${proxyPort}`), 'main', options({ log: (line) => lines.push(line) }));
  const opened = sink.open();
  await new Promise((resolve) => setTimeout(resolve, 150));
  const proxy = createTcpServer((socket) => {
    const upstream = connect(port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
  after(() => proxy.close());
  await opened;
  assert.ok(sink.retries > 0);
  assert.match(lines.join('\n'), /ECONNREFUSED.*retrying in/);
  assert.ok(server.mappings.has('tides'));
  await sink.close();
});

test('a document whose index name cannot be made (no timestamp in the named field) is dead-lettered, not sent', async () => {
  const server = await fake();
  const rejected: string[] = [];
  const sink = new OpenSearchSink(spec(server.url, { index: 'tides-{window_start:yyyy}' }), 'main', options({ onRejected: (_row, reason) => void rejected.push(reason) }));
  await sink.open();
  await sink.write([{ station: 'a', window_start: null, mean: 1, count: 1 }, ...rows(1)]);
  await sink.flush();
  assert.equal(rejected.length, 1);
  assert.match(rejected[0], /field 'window_start' holds no timestamp \(null\)/);
  assert.deepEqual(server.bulks.flat().map((document) => document.index), ['tides-1970']);
  await sink.close();
});

// ---------------------------------------------------------------- TLS

const FIXTURES = join(__dirname, '..', '..', '..', 'engine', 'sinks', 'fixtures');

test('TLS: a node whose certificate Node does not trust fails at once with a hint, not an endless retry; tls.caFile trusts it', async () => {
  const server = new FakeOpenSearch();
  await server.start({ cert: readFileSync(join(FIXTURES, 'localhost-cert.pem'), 'utf8'), key: readFileSync(join(FIXTURES, 'localhost-key.pem'), 'utf8') });
  const untrusted = new OpenSearchSink(spec(server.url), 'main', options());
  await assert.rejects(untrusted.open(), (error: unknown) => {
    assert.ok(error instanceof ExternalError && !error.retriable);
    assert.match(error.message, /TLS: the node's certificate is not accepted \(self[- ]signed certificate\); for a private CA set tls\.caFile/);
    return true;
  });
  assert.equal(untrusted.retries, 0);
  await untrusted.close();
  assert.equal(server.requests.length, 0, 'nothing reached the server over an unverified connection');

  const trusted = new OpenSearchSink(spec(server.url, { caFile: join(FIXTURES, 'localhost-cert.pem') }), 'main', options());
  await trusted.open();
  await trusted.write(rows(3));
  await trusted.flush();
  assert.equal(trusted.documentsIndexed, 3);
  await trusted.close();
});

test('TLS: a caFile that cannot be read is a usage error naming the file', async () => {
  const sink = new OpenSearchSink(spec('https://127.0.0.1:1', { caFile: '/nonexistent/ca.pem' }), 'main', options());
  await assert.rejects(sink.open(), (error: unknown) => error instanceof UsageError && /cannot read tls\.caFile \/nonexistent\/ca\.pem/.test(error.message));
  await sink.close();
});
