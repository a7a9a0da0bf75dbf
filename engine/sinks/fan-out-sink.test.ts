import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Row } from '../core/batch';
import { FanOutSink } from './fan-out-sink';
import type { Sink } from '../core/sink';

/** A sink whose flush resolves when the test says so, recording what it was given. */
class RecordingSink implements Sink {
  readonly rows: Row[] = [];
  opened: unknown = 'never';
  closed = false;
  releaseFlush: () => void = () => {};
  flushes = 0;
  failClose = false;
  /** Only sinks that have a position (a file length) define it. */
  position?: () => unknown;

  constructor(
    readonly description: string,
    positionValue?: unknown,
  ) {
    if (positionValue !== undefined) this.position = () => positionValue;
  }

  async open(resume?: unknown): Promise<void> {
    this.opened = resume;
  }

  async write(rows: Row[]): Promise<void> {
    this.rows.push(...rows);
  }

  flush(): Promise<void> {
    this.flushes++;
    return new Promise((resolve) => (this.releaseFlush = resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.failClose) throw new Error(`${this.description} failed to close`);
  }
}

test('fan-out: every sink gets every row; flush resolves only when every sink flushed', async () => {
  const cassandra = new RecordingSink('cassandra');
  const search = new RecordingSink('opensearch');
  const sink = new FanOutSink([cassandra, search]);
  assert.equal(sink.description, 'cassandra + opensearch');
  await sink.open();
  const rows = [{ station: 'a' }, { station: 'b' }];
  await sink.write(rows);
  assert.deepEqual(cassandra.rows, rows);
  assert.deepEqual(search.rows, rows);
  let flushed = false;
  const flush = sink.flush().then(() => (flushed = true));
  await new Promise((resolve) => setImmediate(resolve));
  cassandra.releaseFlush();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(flushed, false, 'one sink still flushing');
  search.releaseFlush();
  await flush;
  assert.equal(flushed, true);
});

test('fan-out: positions go into the checkpoint per sink and come back to the same sink', async () => {
  const file = new RecordingSink('jsonl', 1234);
  const search = new RecordingSink('opensearch');
  const sink = new FanOutSink([file, search]);
  assert.deepEqual(sink.position!(), [1234, null]);
  // Without a sink that has a position, the whole has none (the job may then run as one task per partition).
  assert.equal(new FanOutSink([search, new RecordingSink('cassandra')]).position, undefined);
  await sink.open([1234, null]);
  assert.equal(file.opened, 1234);
  assert.equal(search.opened, undefined);
  await new FanOutSink([file, search]).open(undefined);
  assert.equal(file.opened, undefined);
});

test('fan-out: close closes every sink even when one fails, then reports the failure', async () => {
  const first = new RecordingSink('first');
  const second = new RecordingSink('second');
  first.failClose = true;
  await assert.rejects(new FanOutSink([first, second]).close(), /first failed to close/);
  assert.equal(first.closed, true);
  assert.equal(second.closed, true);
});
