import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExternalError } from './errors';
import { retry, type RetryOptions } from './retry';

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
