import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExternalError } from './errors';
import { retry, RetryPolicy, type RetryOptions } from './retry';

const outage = () => new ExternalError('cassandra unavailable', { retriable: true });

/** An operation that fails retriably `failures` times, then answers 'ok'. */
function failing(failures: number): { operation: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    operation: async () => {
      calls++;
      if (calls <= failures) throw outage();
      return 'ok';
    },
    calls: () => calls,
  };
}

test('retry: the delay doubles up to the cap, each wait drawn from [delay/2, delay]', async () => {
  for (const [random, expected] of [
    [1, [100, 200, 400, 800, 1000, 1000]],
    [0, [50, 100, 200, 400, 500, 500]],
  ] as const) {
    const waits: number[] = [];
    const logged: Array<[number, number]> = [];
    const { operation, calls } = failing(6);
    const options: RetryOptions = {
      initialDelayMs: 100,
      maxDelayMs: 1000,
      maxElapsedMs: Number.POSITIVE_INFINITY,
      random: () => random,
      sleep: async (ms) => void waits.push(ms),
      onRetry: (_error, attempt, delayMs) => logged.push([attempt, delayMs]),
    };
    assert.equal(await retry(operation, options), 'ok');
    assert.equal(calls(), 7);
    assert.deepEqual(waits, expected);
    assert.deepEqual(
      logged,
      expected.map((ms, i) => [i + 1, ms]),
    );
  }
});

test('retry: an error that will not pass is thrown at once; maxElapsedMs gives up', async () => {
  let calls = 0;
  const refused = new ExternalError('invalid query', { retriable: false });
  const sleep = async () => {};
  await assert.rejects(
    retry(
      async () => {
        calls++;
        throw refused;
      },
      { initialDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: Number.POSITIVE_INFINITY, sleep },
    ),
    (error: unknown) => error === refused,
  );
  assert.equal(calls, 1);
  // The next wait would pass maxElapsedMs: the last error instead.
  const { operation, calls: attempts } = failing(100);
  await assert.rejects(retry(operation, { initialDelayMs: 100, maxDelayMs: 100, maxElapsedMs: 50, sleep }), /cassandra unavailable/);
  assert.equal(attempts(), 1);
});

test('retry: an abort ends a wait in progress at once and throws the last error; an aborted signal stops after the first failure', async () => {
  const controller = new AbortController();
  const { operation, calls } = failing(100);
  const started = Date.now();
  setTimeout(() => controller.abort(), 30);
  // A 10 s wait after the first failure, cut short by the abort (the default sleep).
  await assert.rejects(retry(operation, { initialDelayMs: 20_000, maxDelayMs: 20_000, maxElapsedMs: Number.POSITIVE_INFINITY, signal: controller.signal }), /cassandra unavailable/);
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  assert.equal(calls(), 1, 'no attempt after the abort');

  const second = failing(100);
  await assert.rejects(
    retry(second.operation, { initialDelayMs: 10, maxDelayMs: 10, maxElapsedMs: Number.POSITIVE_INFINITY, signal: controller.signal }),
    /cassandra unavailable/,
  );
  assert.equal(second.calls(), 1);
});

// ---------------------------------------------------------------- RetryPolicy

/** A virtual clock: `sleep` moves it on at once and records the wait. */
function virtualTime(start = 0) {
  let now = start;
  const waits: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
    waits,
    advance: (ms: number) => void (now += ms),
  };
}

test('RetryPolicy: exact waits and lines, one format; success after an outage is said once', async () => {
  const clock = virtualTime();
  const lines: string[] = [];
  const retrying = new RetryPolicy({ subject: "cassandra sink 'main'", log: (line) => lines.push(line), now: clock.now, sleep: clock.sleep, random: () => 1 });
  const { operation } = failing(5);
  assert.equal(await retrying.run('write of 32 row(s) to tides.avg_30m', operation, { context: () => '7 row(s) queued' }), 'ok');
  // 100 ms doubling, the full delay with random() = 1: the fifth retry is the first a second (1500 ms) after the first line.
  assert.deepEqual(clock.waits, [100, 200, 400, 800, 1600]);
  assert.deepEqual(lines, [
    "cassandra sink 'main': write of 32 row(s) to tides.avg_30m failed (cassandra unavailable); retrying in 100 ms (attempt 1; 7 row(s) queued)",
    "cassandra sink 'main': write of 32 row(s) to tides.avg_30m failed (cassandra unavailable); retrying in 1600 ms (attempt 5; 7 row(s) queued; 3 more retries since the last line)",
    "cassandra sink 'main': write of 32 row(s) to tides.avg_30m succeeded again (5 retries so far)",
  ]);
  assert.equal(retrying.retries, 5);
  assert.equal(retrying.waiting, 0);
  // An operation that passes at once says nothing.
  assert.equal(await retrying.run('write of 1 row(s) to tides.avg_30m', failing(0).operation), 'ok');
  assert.equal(lines.length, 3);
});

test('RetryPolicy: operations of one component share the line interval; the first retry of an outage is always said', async () => {
  const clock = virtualTime();
  const lines: string[] = [];
  // Sleeps that wait for the test to release them, so that two operations overlap.
  const sleeping: Array<() => void> = [];
  const retrying = new RetryPolicy({
    subject: 'store',
    log: (line) => lines.push(line),
    now: clock.now,
    random: () => 0,
    sleep: () => new Promise<void>((resolve) => sleeping.push(resolve)),
    describeError: (error) => `described: ${(error as Error).message}`,
  });
  const first = failing(2);
  const second = failing(1);
  const a = retrying.run('read a', first.operation);
  const b = retrying.run('read b', second.operation);
  while (sleeping.length < 2) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(retrying.waiting, 2);
  // Both failed within the same instant: the second is counted, not said.
  assert.deepEqual(lines, ['store: read a failed (described: cassandra unavailable); retrying in 50 ms (attempt 1)']);
  clock.advance(1000);
  sleeping.splice(0).forEach((wake) => wake());
  assert.equal(await b, 'ok');
  // `a` failed again a second later: said, with the one retry not said; b passed while a still waits (no recovery line yet).
  while (sleeping.length < 1) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(lines.slice(1), ['store: read a failed (described: cassandra unavailable); retrying in 100 ms (attempt 2; 1 more retries since the last line)']);
  sleeping.splice(0).forEach((wake) => wake());
  assert.equal(await a, 'ok');
  assert.deepEqual(lines.slice(2), ['store: read a succeeded again (3 retries so far)']);
  assert.equal(retrying.waiting, 0);

  // A new outage within the second after the last retry line is said at once all the same.
  const c = retrying.run('read c', failing(1).operation);
  while (sleeping.length < 1) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(lines.slice(3), ['store: read c failed (described: cassandra unavailable); retrying in 50 ms (attempt 1)']);
  sleeping.splice(0).forEach((wake) => wake());
  assert.equal(await c, 'ok');
});

test('RetryPolicy: bounded attempts, a wait the failure asks for, and the signals of the component and of one operation', async () => {
  const clock = virtualTime();
  const lines: string[] = [];
  const asked = (ms: number) => Object.assign(outage(), { retryAfterMs: ms });
  let calls = 0;
  const retrying = new RetryPolicy({
    subject: 'http x',
    log: (line) => lines.push(line),
    backoff: { initialDelayMs: 1000, maxDelayMs: 30_000 },
    maxAttempts: 3,
    requestedDelayMs: (error) => (error as { retryAfterMs?: number }).retryAfterMs ?? 0,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0,
  });
  await assert.rejects(
    retrying.run('poll', async () => {
      calls++;
      throw asked(calls === 1 ? 20_000 : 0);
    }),
    /cassandra unavailable/,
  );
  assert.equal(calls, 3);
  // Half the delay with random() = 0, but never less than the 20 s asked for.
  assert.deepEqual(clock.waits, [20_000, 1000]);
  assert.deepEqual(lines, [
    'http x: poll failed (cassandra unavailable); retrying in 20000 ms (attempt 1 of 3)',
    'http x: poll failed (cassandra unavailable); retrying in 1000 ms (attempt 2 of 3)',
  ]);
  assert.equal(retrying.waiting, 0, 'an operation that gave up is no longer waiting');

  const stopping = new AbortController();
  const closed = new RetryPolicy({ subject: 's', log: () => {}, signal: stopping.signal, sleep: async () => stopping.abort() });
  const first = failing(5);
  await assert.rejects(closed.run('x', first.operation), /cassandra unavailable/);
  assert.equal(first.calls(), 1, 'the component stopped during the first wait');
  const abandoned = new AbortController();
  const open = new RetryPolicy({ subject: 's', log: () => {}, sleep: async () => abandoned.abort() });
  const second = failing(5);
  await assert.rejects(open.run('x', second.operation, { signal: abandoned.signal }), /cassandra unavailable/);
  assert.equal(second.calls(), 1, "the operation's own signal ended its wait");
  assert.equal(await open.run('y', failing(1).operation), 'ok', 'other operations go on');
});
