import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkpointTableCql, freeSlot, splitIntoChunks } from '../state/cassandra-checkpoint-store';

// Pure parts of the Cassandra checkpoint store; the round trip against a real
// server is in test/integration/cassandra-checkpoint.test.ts.

test('splitIntoChunks: pieces of at most chunkBytes that concatenate back to the input', () => {
  const data = Buffer.from(Array.from({ length: 10 }, (_, i) => i));
  const chunks = splitIntoChunks(data, 4);
  assert.deepEqual(chunks.map((chunk) => chunk.length), [4, 4, 2]);
  assert.deepEqual(Buffer.concat(chunks), data);
  assert.deepEqual(splitIntoChunks(data, 5).map((chunk) => chunk.length), [5, 5], 'an exact multiple leaves no empty tail');
  assert.deepEqual(splitIntoChunks(data, 100).map((chunk) => chunk.length), [10]);
  assert.deepEqual(splitIntoChunks(Buffer.alloc(0), 4).map((chunk) => chunk.length), [0], 'an empty state still has a row');
  assert.throws(() => splitIntoChunks(data, 0), RangeError);
});

test('freeSlot: a save never writes into the committed slot, and only into its own claim generation\'s two', () => {
  assert.equal(freeSlot(null), 0);
  assert.equal(freeSlot(0), 1);
  assert.equal(freeSlot(1), 0);
  assert.equal(freeSlot(1, 3), 6, 'a slot of an earlier claim is never written');
  assert.equal(freeSlot(6, 3), 7);
  assert.equal(freeSlot(7, 3), 6);
});

test('checkpoint table: one partition per job, chunk rows per slot, the commit pointer static', () => {
  const cql = checkpointTableCql('tides', 'tideflow_checkpoints');
  assert.match(cql, /^CREATE TABLE IF NOT EXISTS "tides"\."tideflow_checkpoints" \(/);
  assert.match(cql, /PRIMARY KEY \(\(job\), slot, chunk\)/);
  for (const column of ['committed_slot int static', 'committed_epoch bigint static', 'committed_sha256 text static']) assert.ok(cql.includes(column), column);
});
