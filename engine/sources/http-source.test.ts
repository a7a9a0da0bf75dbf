import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Reporter } from '../config/component';
import type { RawBatch, Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { DecodeError } from '../core/errors';
import { VirtualClock } from '../../test/support/virtual-clock';
import type { HttpSourceConfig, HttpSourceSpec } from './http-source';
import { HttpPollingSource, check, httpSource, normalize, parseRetryAfter, redactUrl, templateEndpoint } from './http-source';

const T0 = Date.UTC(2024, 0, 1, 12);
const MINUTE = 60_000;

/** A local server whose answers each test programs; it records what it was asked. */
async function startServer(handle: (request: IncomingMessage, response: ServerResponse, url: URL) => void) {
  const seen: Array<{ url: URL; headers: IncomingMessage['headers'] }> = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    seen.push({ url, headers: request.headers });
    handle(request, response, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function spec(config: Partial<HttpSourceConfig> & { url: string }): HttpSourceSpec {
  return normalize({ rate: { requests: 1000, per: '1s' }, ...config }, { job: 'test' });
}

/** Reads batches until `stop` says so (checked after each batch), then stops the source as the runtime does. */
async function drain(source: HttpPollingSource, stop: (got: { rows: Row[]; deadLetters: DeadLetter[]; batches: RawBatch[] }) => boolean, from = {}) {
  const got = { rows: [] as Row[], deadLetters: [] as DeadLetter[], batches: [] as RawBatch[] };
  const iterator = source.batches(from)[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    got.batches.push(next.value);
    got.rows.push(...next.value.rows!);
    got.deadLetters.push(...(next.value.deadLetters ?? []));
    if (stop(got)) {
      await iterator.return?.();
      break;
    }
  }
  return got;
}

function problemsOf(config: Partial<HttpSourceConfig>): string[] {
  const problems: string[] = [];
  const reporter: Reporter = {
    atValue: (path, message) => problems.push(`${path.join('.')}: ${message}`),
    atKey: (path, message) => problems.push(`${path.join('.')}: ${message}`),
    atOwner: (path, message) => problems.push(`${path.join('.') || '(source)'}: ${message}`),
  };
  check(config, reporter);
  return problems;
}

describe('http source: config', () => {
  it('fills in the defaults', () => {
    const normalized = normalize({ url: 'https://api.example.org/x' }, { job: 'j' });
    assert.deepEqual(normalized, {
      url: 'https://api.example.org/x',
      keys: [''],
      format: 'json',
      timeField: 't',
      intervalMs: 60_000,
      backfillMs: 0,
      lookbackMs: 0,
      timeoutMs: 30_000,
      concurrency: 4,
      requestGapMs: 500,
      retry: { attempts: 4, initialDelayMs: 1000, maxDelayMs: 30_000 },
      headers: {},
      stopWhenCaughtUp: false,
    });
    assert.deepEqual(normalize({ url: 'https://x/', auth: { basic: { username: 'u', password: 'p' } } }, { job: 'j' }).auth, { kind: 'basic', username: 'u', password: 'p' });
  });

  it('reports placeholders and keys that do not fit together, and auth given twice', () => {
    assert.deepEqual(problemsOf({ url: 'https://x/{station}?since={from}', keys: ['a'] }), ['url: unknown placeholder {station}: use {key}, {from}, {fromMs}, {to} or {toMs}']);
    assert.deepEqual(problemsOf({ url: 'https://x/{key}' }), ['(source): the url uses {key}: list the keys to poll under `keys`']);
    assert.deepEqual(problemsOf({ url: 'https://x/', keys: ['a', 'b'] }), ['keys: several keys but the url has no {key}: every key would ask the same URL']);
    assert.deepEqual(problemsOf({ url: 'https://x/', auth: { bearer: 't' }, headers: { authorization: 'Bearer u' } }), ['auth: both `auth` and an Authorization header are given: keep one']);
    assert.deepEqual(problemsOf({ url: 'https://x/{key}/{fromMs}/{to}/{toMs}', keys: ['a'] }), []);
  });
});

describe('http source: helpers', () => {
  it('masks credentials and secret-looking query values in URLs', () => {
    assert.equal(redactUrl('https://user:pw@api.example.org/v1/x?station=8454000&api_key=abc&token=t&begin=20190101%2000:00'), 'https://***@api.example.org/v1/x?station=8454000&api_key=***&token=***&begin=20190101%2000:00');
    assert.equal(redactUrl('not a url'), 'not a url');
  });

  it('reads Retry-After as seconds or a date', () => {
    assert.equal(parseRetryAfter('120', T0), 120_000);
    assert.equal(parseRetryAfter(new Date(T0 + 30_000).toUTCString(), T0), 30_000);
    assert.equal(parseRetryAfter('soon', T0), undefined);
    assert.equal(parseRetryAfter(null, T0), undefined);
  });

  it('fills the URL template per key and range', () => {
    const endpoint = templateEndpoint(spec({ url: 'https://x/g/{key}?from={from}&fromMs={fromMs}&to={to}', keys: ['a b'], lookback: '1m' }));
    const request = endpoint.plan('a b', T0, T0 + 5 * MINUTE);
    assert.equal(request.url, `https://x/g/a%20b?from=2024-01-01T11%3A59%3A00.000Z&fromMs=${T0 - MINUTE}&to=2024-01-01T12%3A05%3A00.000Z`);
    assert.equal(request.from, T0 - MINUTE);
    assert.equal(request.more, false);
    assert.equal(endpoint.partition('a b'), 'http:a b');
  });

  it('decodes JSON records (at a path) and JSON Lines; refuses answers that are not records', () => {
    const answer = (body: string) => ({ url: 'u', status: 200, headers: new Headers(), body });
    const json = templateEndpoint(spec({ url: 'https://x/', records: 'result.items' }));
    const request = json.plan('', T0, T0);
    const decoded = json.decode(answer('{"result":{"items":[{"t":"2024-01-01T12:00:00Z","v":1},{"v":2},{"t":1704110460000,"v":3}]}}'), request);
    assert.deepEqual(decoded.rows, [{ t: T0, v: 1 }, { t: T0 + MINUTE, v: 3 }]);
    assert.deepEqual(decoded.rejected, [{ item: { v: 2 }, reason: 'field "t" is missing or not a timestamp (epoch ms or ISO-8601): "missing"' }]);
    assert.throws(() => json.decode(answer('{"error":{"message":"quota exceeded"}}'), request), (error: unknown) => error instanceof DecodeError && /expected an array of records at "result.items"/.test((error as Error).message));
    assert.throws(() => json.decode(answer('<html>maintenance</html>'), request), /HTML or XML, not JSON/);
    assert.throws(() => json.decode(answer('{"result":{"items":[{"t":1'), request), /truncated or malformed JSON/);
    const jsonl = templateEndpoint(spec({ url: 'https://x/', format: 'jsonl' }));
    const lines = jsonl.decode(answer(`{"t":${T0},"v":1}\n\nnot json\n{"v":2}\n`), request);
    assert.deepEqual(lines.rows, [{ t: T0, v: 1 }]);
    assert.deepEqual(lines.rejected.map((item) => item.item), ['not json', '{"v":2}']);
  });
});

describe('http source: polling', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  it('polls every key on the interval, from its position, and delivers each record once', async () => {
    const clock = new VirtualClock(T0);
    // Each key has a record every minute; the server returns those in [since, now].
    const server = await startServer((_request, response, url) => {
      const key = url.pathname.slice(1);
      const since = Number(url.searchParams.get('since'));
      const records = [];
      for (let t = Math.ceil(since / MINUTE) * MINUTE; t <= clock.now(); t += MINUTE) records.push({ key, t, v: t / MINUTE });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(records));
    });
    servers.push(server);
    const source = httpSource(spec({ url: `${server.base}/{key}?since={fromMs}`, keys: ['a', 'b', 'c'], interval: '5m', backfill: '10m', concurrency: 2 }), { now: clock.now, sleep: clock.sleep });
    const end = T0 + 60 * MINUTE;
    const got = await drain(source, () => source.keyStatus().every((status) => status.position > end));
    for (const key of ['a', 'b', 'c']) {
      const times = got.rows.filter((row) => row.key === key).map((row) => row.t as number);
      const expected: number[] = [];
      for (let t = T0 - 10 * MINUTE; t <= Math.max(...times); t += MINUTE) expected.push(t);
      assert.deepEqual(times, expected, `key ${key}: every minute once, in order`);
    }
    assert.deepEqual(got.deadLetters, []);
    assert.equal(source.stats.rowsDelivered, got.rows.length);
    // Each poll asks from the first minute not delivered yet.
    const asked = server.seen.filter((seen) => seen.url.pathname === '/a').map((seen) => Number(seen.url.searchParams.get('since')));
    assert.equal(asked[0], T0 - 10 * MINUTE);
    for (let i = 1; i < asked.length; i++) assert.ok(asked[i] > asked[i - 1] && (asked[i] - 1) % MINUTE === 0, 'from the position: one past the last record delivered');
    // Polled on the interval, not faster.
    for (let i = 2; i < asked.length; i++) assert.ok(asked[i] - asked[i - 1] >= 5 * MINUTE, `poll ${i} of a came ${asked[i] - asked[i - 1]} ms of event time after the one before`);
    // Positions go with the batches: the runtime stores toOffset per partition.
    for (const batch of got.batches) assert.equal(batch.source.toOffset, Math.max(...batch.rows!.map((row) => row.t as number)) + 1);
  });

  it('delivers the records of all keys in event-time order, so keys sharing one topic partition stay in order', async () => {
    const clock = new VirtualClock(T0);
    // Each key has a record every minute; the server returns those in [since, now].
    const server = await startServer((_request, response, url) => {
      const key = url.pathname.slice(1);
      const since = Number(url.searchParams.get('since'));
      const records = [];
      for (let t = Math.ceil(since / MINUTE) * MINUTE; t <= clock.now(); t += MINUTE) records.push({ key, t });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(records));
    });
    servers.push(server);
    const keys = ['a', 'b', 'c'];
    // One request per key per 10 s: the backfill answers arrive one after the other, as NOAA's do.
    const source = httpSource(spec({ url: `${server.base}/{key}?since={fromMs}`, keys, interval: '5m', backfill: '3h', rate: { requests: 1, per: '10s' } }), { now: clock.now, sleep: clock.sleep });
    const end = T0 + 30 * MINUTE;
    const got = await drain(source, () => source.keyStatus().every((status) => status.position > end));
    const times = got.rows.map((row) => row.t as number);
    const outOfOrder = times.filter((t, i) => i > 0 && t < times[i - 1]).length;
    assert.equal(outOfOrder, 0, `${outOfOrder} records earlier than the one before: ${got.batches.map((batch) => `${batch.source.partition} ${batch.rows!.length}`).join(', ')}`);
    for (const key of keys) {
      const own = got.rows.filter((row) => row.key === key).map((row) => row.t as number);
      assert.equal(own[0], T0 - 3 * 60 * MINUTE, `key ${key} from the backfill start`);
      assert.equal(new Set(own).size, own.length, `key ${key}: each record once`);
      assert.equal(own.at(-1)! - own[0], (own.length - 1) * MINUTE, `key ${key}: no gap`);
    }
    for (const batch of got.batches) assert.ok(batch.rows!.every((row) => `http:${row.key as string}` === batch.source.partition), 'a batch holds the records of its own key');
  });

  it('a key whose records stop coming holds the others back for keyIdleTimeout, then no longer', async () => {
    const clock = new VirtualClock(T0);
    let bAnswers = false;
    const server = await startServer((_request, response, url) => {
      const key = url.pathname.slice(1);
      if (key === 'b' && !bAnswers) return void response.writeHead(404).end('no such gauge');
      const since = Number(url.searchParams.get('since'));
      const records = [];
      for (let t = Math.ceil(since / MINUTE) * MINUTE; t <= clock.now(); t += MINUTE) records.push({ key, t });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(records));
    });
    servers.push(server);
    const source = httpSource(spec({ url: `${server.base}/{key}?since={fromMs}`, keys: ['a', 'b'], interval: '1m', backfill: '10m', keyIdleTimeout: '15m' }), { now: clock.now, sleep: clock.sleep });
    let firstRowsAt: number | undefined;
    let heldState: string | undefined;
    const got = await drain(source, (g) => {
      if (g.deadLetters.length === 3) heldState ??= source.describeState();
      if (g.rows.length > 0) firstRowsAt ??= clock.now();
      if (firstRowsAt !== undefined && clock.now() > firstRowsAt + 5 * MINUTE) bAnswers = true;
      return g.rows.some((row) => row.key === 'b') && source.keyStatus().every((status) => status.position > firstRowsAt! + 5 * MINUTE);
    });
    assert.match(heldState!, /holding \d+ records of a until b catches up/);
    assert.ok(firstRowsAt! >= T0 + 15 * MINUTE && firstRowsAt! < T0 + 17 * MINUTE, `the records of a waited for b for 15 minutes, not ${(firstRowsAt! - T0) / MINUTE}`);
    const a = got.rows.filter((row) => row.key === 'a').map((row) => row.t as number);
    assert.equal(a[0], T0 - 10 * MINUTE);
    assert.equal(a.at(-1)! - a[0], (a.length - 1) * MINUTE, 'a: no gap, no repeat');
    // b comes back: its records from the backfill start, late (nothing can help that), none lost.
    const b = got.rows.filter((row) => row.key === 'b').map((row) => row.t as number);
    assert.equal(b[0], T0 - 10 * MINUTE);
    assert.equal(b.at(-1)! - b[0], (b.length - 1) * MINUTE, 'b: no gap, no repeat');
  });

  it('sends auth and headers, keeps them out of dead letters and logs, and masks secret query values', async () => {
    const clock = new VirtualClock(T0);
    const server = await startServer((_request, response) => response.writeHead(404, { 'content-type': 'text/plain' }).end('no such gauge'));
    servers.push(server);
    const lines: string[] = [];
    const source = httpSource(
      spec({ url: `${server.base}/g?api_key=s3cret&since={fromMs}`, auth: { bearer: 'tok-123' }, headers: { 'X-Client': 'tideflow-test' } }),
      { now: clock.now, sleep: clock.sleep, log: (line) => lines.push(line) },
    );
    const got = await drain(source, (g) => g.deadLetters.length >= 1);
    assert.equal(server.seen[0].headers.authorization, 'Bearer tok-123');
    assert.equal(server.seen[0].headers['x-client'], 'tideflow-test');
    assert.equal(server.seen.length, 1, 'a 404 is not retried');
    const [letter] = got.deadLetters;
    assert.equal(letter.reason, 'HTTP 404 Not Found');
    assert.equal(letter.stage, 'poll');
    assert.deepEqual(letter.payload, { url: `${server.base}/g?api_key=***&since=${T0}`, status: 404, body: 'no such gauge' });
    const everything = JSON.stringify(got.deadLetters) + lines.join('\n') + source.describeState();
    assert.ok(!everything.includes('tok-123') && !everything.includes('s3cret'), everything);
    const basic = httpSource(spec({ url: `${server.base}/b`, auth: { basic: { username: 'ann', password: 'pw' } } }), { now: clock.now, sleep: clock.sleep });
    await drain(basic, (g) => g.deadLetters.length >= 1);
    assert.equal(server.seen.at(-1)!.headers.authorization, `Basic ${Buffer.from('ann:pw').toString('base64')}`);
  });

  it('retries 5xx and 429 with backoff and jitter, at least as long as Retry-After asks, then reads the answer', async () => {
    const clock = new VirtualClock(T0);
    const answers = [
      (response: ServerResponse) => response.writeHead(503, { 'retry-after': '20' }).end('down'),
      (response: ServerResponse) => response.writeHead(429, { 'retry-after': '3' }).end('slow down'),
      (response: ServerResponse) => response.writeHead(500).end('oops'),
      (response: ServerResponse) => response.writeHead(200).end(JSON.stringify([{ t: T0 }])),
    ];
    const server = await startServer((_request, response) => answers.shift()!(response));
    servers.push(server);
    const lines: string[] = [];
    const source = httpSource(spec({ url: `${server.base}/x`, retry: { attempts: 4, initialDelay: '1s', maxDelay: '30s' } }), {
      now: clock.now,
      sleep: clock.sleep,
      random: () => 0,
      log: (line) => lines.push(line),
    });
    const got = await drain(source, (g) => g.rows.length >= 1);
    assert.deepEqual(got.rows, [{ t: T0 }]);
    assert.deepEqual(got.deadLetters, []);
    // Backoff with random() = 0 waits half the delay (0.5 s, 1 s, 2 s); Retry-After raises the first two.
    const retryWaits = clock.sleeps.filter((ms) => ms > 1);
    assert.deepEqual(retryWaits, [20_000, 3_000, 2_000]);
    assert.deepEqual(
      lines,
      [
        `http ${server.base}/x: poll failed (HTTP 503 Service Unavailable (Retry-After 20 s)); retrying in 20000 ms (attempt 1 of 4)`,
        `http ${server.base}/x: poll failed (HTTP 429 Too Many Requests (Retry-After 3 s)); retrying in 3000 ms (attempt 2 of 4)`,
        `http ${server.base}/x: poll failed (HTTP 500 Internal Server Error); retrying in 2000 ms (attempt 3 of 4)`,
        `http ${server.base}/x: poll succeeded again (3 retries so far)`,
      ],
    );
    assert.equal(source.stats.retries, 3);
    assert.equal(source.stats.rateLimited, 1);
    assert.equal(source.stats.requests, 4);
  });

  it('gives up after the last attempt with a dead letter, stays visible while failing, and recovers', async () => {
    const clock = new VirtualClock(T0);
    let down = true;
    const server = await startServer((_request, response) => {
      if (down) response.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
      else response.writeHead(200).end(JSON.stringify([{ t: T0 }]));
    });
    servers.push(server);
    const lines: string[] = [];
    const source = httpSource(spec({ url: `${server.base}/{key}`, keys: ['k1', 'k2'], interval: '1m', retry: { attempts: 2 } }), {
      now: clock.now,
      sleep: clock.sleep,
      log: (line) => lines.push(line),
    });
    let state: string | undefined;
    const got = await drain(source, (g) => {
      if (g.deadLetters.length === 4 && state === undefined) {
        state = source.describeState();
        down = false;
      }
      return g.rows.length === 2;
    });
    // Polls that had failed before the server came back may still arrive after the fourth.
    assert.ok(got.deadLetters.length >= 4);
    assert.deepEqual(
      got.deadLetters.map((letter) => [letter.reason, (letter.payload as Row).status, (letter.payload as Row).body, letter.stage]),
      new Array(got.deadLetters.length).fill(['HTTP 502 Bad Gateway (2 attempts)', 502, '<html>Bad Gateway</html>', 'poll']),
    );
    assert.match(state!, /2 failing \(k1: \d+ failed polls? in a row, last: HTTP 502 Bad Gateway \(2 attempts\); k2: \d+ failed polls? in a row/);
    assert.equal(source.stats.failingKeys, 0, 'both answer again');
    assert.equal(source.stats.failedPolls, got.deadLetters.length);
    assert.ok(lines.some((line) => /k1: answering again after \d+ failed polls?/.test(line)));
    // The failed polls did not move the positions: the first good answer still starts at the backfill start.
    assert.deepEqual(got.rows.map((row) => row.t), [T0, T0]);
  });

  it('retries a connection refused, then gives up with a dead letter that says so', async () => {
    const clock = new VirtualClock(T0);
    const server = await startServer(() => {});
    const url = `${server.base}/x`;
    await server.close();
    const source = httpSource(spec({ url, retry: { attempts: 3, initialDelay: '1s' } }), { now: clock.now, sleep: clock.sleep });
    const got = await drain(source, (g) => g.deadLetters.length >= 1);
    assert.match(got.deadLetters[0].reason, /^connection failed before the answer: ECONNREFUSED.* \(3 attempts\)$/);
    assert.deepEqual(got.deadLetters[0].payload, { url, status: null, body: '' });
    assert.equal(source.stats.requests, 3);
  });

  it('times out a hanging server and retries', async () => {
    const clock = new VirtualClock(T0);
    let calls = 0;
    const server = await startServer((_request, response) => {
      if (calls++ === 0) return; // never answers
      response.writeHead(200).end(JSON.stringify([{ t: T0 }]));
    });
    servers.push(server);
    const source = httpSource(spec({ url: `${server.base}/x`, timeout: '150ms' }), { now: clock.now, sleep: clock.sleep });
    const got = await drain(source, (g) => g.rows.length >= 1);
    assert.deepEqual(got.rows, [{ t: T0 }]);
    assert.equal(source.stats.timeouts, 1);
    assert.equal(source.stats.retries, 1);
  });

  it('keeps at most `concurrency` requests in flight and spaces requests to a host by the rate', async () => {
    const clock = new VirtualClock(T0);
    let inFlight = 0;
    let most = 0;
    const startedAt: number[] = [];
    const server = await startServer((_request, response) => {
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        response.writeHead(200).end('[]');
      }, 20);
    });
    servers.push(server);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    const source = httpSource(spec({ url: `${server.base}/{key}`, keys, concurrency: 2, rate: { requests: 1, per: '2s' }, interval: '1h', stopWhenCaughtUp: true }), {
      now: clock.now,
      sleep: clock.sleep,
      // When each request leaves, by the source's clock.
      fetch: (input, init) => {
        startedAt.push(clock.now());
        return fetch(input, init);
      },
    });
    await drain(source, () => false);
    assert.equal(startedAt.length, keys.length, 'one poll per key, then the source ends: every key has caught up');
    assert.equal(most, 2);
    for (let i = 1; i < startedAt.length; i++) assert.ok(startedAt[i] - startedAt[i - 1] >= 2000, `request ${i} ${startedAt[i] - startedAt[i - 1]} ms after the one before`);
  });
});
