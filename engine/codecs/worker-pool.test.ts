import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DECODE_WORKER_FILE, defaultWorkerCount, WorkerPool } from './worker-pool';

test('the decode worker is found as compiled JS next to the pool', () => {
  assert.ok(existsSync(DECODE_WORKER_FILE), DECODE_WORKER_FILE);
  assert.ok(defaultWorkerCount() >= 1);
});

test('a pool starts its threads, runs tasks with transferred buffers, and close() stops them', async () => {
  const pool = new WorkerPool({ threads: 2 });
  assert.equal(pool.threads, 2);
  // An empty chunk: exercises the real worker script end to end.
  const bytes = new ArrayBuffer(16);
  const result = await pool.run<unknown, { columns: { count: number }; bytes: ArrayBuffer }>(
    { readerSchema: '{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}', writers: [], bytes, spans: new Uint32Array(0) },
    [bytes],
  );
  assert.equal(bytes.byteLength, 0, 'the buffer was moved, not copied');
  assert.equal(result.columns.count, 0);
  assert.equal(result.bytes.byteLength, 16, 'and handed back for reuse');
  await pool.close();
  await pool.close();
  await assert.rejects(pool.run({}), /closed/);
});

test('a run that decodes on the pool and closes its decoder exits promptly (no hanging threads)', () => {
  const script = `
    const { loadAvroType, tideObservationSchemaPath } = require(${JSON.stringify(require.resolve('../codecs/avro-schema'))});
    const { encodeConfluent } = require(${JSON.stringify(require.resolve('../codecs/confluent-avro'))});
    const { ParallelConfluentDecoder } = require(${JSON.stringify(require.resolve('./parallel-confluent-decoder'))});
    const type = loadAvroType(tideObservationSchemaPath());
    const row = { station: '1', name: 'n', lat: 1, lon: 2, t: 1600000000000, v: 1, s: null, f: null, q: null };
    const payloads = Array.from({ length: 4000 }, () => encodeConfluent(1, type, row));
    (async () => {
      const decoder = new ParallelConfluentDecoder(type, async () => type, { threads: 2 });
      const out = await decoder.decodeRows(payloads, Float64Array.from(payloads, (_, i) => i), 'p');
      await decoder.close();
      console.log(out.rows.length);
    })();`;
  const started = Date.now();
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), '4000');
  assert.ok(Date.now() - started < 10_000);
});
