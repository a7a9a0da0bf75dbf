import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as avro from 'avsc';
import { encodeConfluent } from '../codecs/confluent-avro';
import type { SchemaRegistry } from '../codecs/registry';
import { DecodeError, ExternalError } from '../core/errors';
import type { RawBatch } from '../core/batch';
import type { PreAggregationPlan } from '../codecs/pre-aggregation';
import { PartitionTracker, Rendezvous, startPositions } from './kafka-source';
import { createKafkaAvroDecoder } from '../codecs/kafka-avro-decoder';
import { kafkaLogLine, parsePartitionKey, SELF_HEALING_KAFKA_ERRORS, partitionKey, toExternalError } from '../clients/kafka';
import { rowsOf } from '../codecs/decoder';

// Logic of the Kafka source that needs no broker: the rendezvous that carries
// backpressure, position bookkeeping across re-fetches, bounded runs.
// Real-broker behaviour is in test/integration/kafka-source.test.ts.

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('rendezvous: an offer finishes only when the consumer asks for the next item', async () => {
  const queue = new Rendezvous<number>();
  const first = queue.offer(1);
  let finished: boolean | undefined;
  void first.done.then((value) => (finished = value));
  const iterator = queue[Symbol.asyncIterator]();
  assert.deepEqual(await iterator.next(), { value: 1, done: false });
  await tick();
  assert.equal(finished, undefined, 'taken is not finished: the runtime still works on it');
  const second = queue.offer(2);
  const next = iterator.next();
  await tick();
  assert.equal(finished, true, 'asking for the next item finishes the previous one');
  assert.deepEqual(await next, { value: 2, done: false });
  queue.end();
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  assert.equal(await second.done, true);
});

test('rendezvous: a waiting consumer gets the next offer directly', async () => {
  const taken: number[] = [];
  const queue = new Rendezvous<number>((item) => taken.push(item));
  const pending = queue.next();
  await tick();
  const offer = queue.offer(7);
  assert.deepEqual(await pending, { value: 7, done: false });
  assert.deepEqual(taken, [7], 'onTake runs when the item is handed over');
  assert.equal(offer.withdraw(), false, 'a taken item cannot be withdrawn');
});

test('rendezvous: withdraw takes back an untaken offer (rebalance while waiting)', async () => {
  const queue = new Rendezvous<number>();
  const offer = queue.offer(1);
  assert.equal(offer.withdraw(), true);
  assert.equal(await offer.done, false);
  // The slot is free again: a fresh offer after re-joining is fine.
  queue.offer(2);
  assert.deepEqual(await queue.next(), { value: 2, done: false });
});

test('rendezvous: close releases the producer without finishing; end waits for the pull', async () => {
  const queue = new Rendezvous<number>();
  const offer = queue.offer(1);
  await queue.next();
  await queue.return();
  assert.equal(await offer.done, false, 'closing does not resolve offsets of a batch');
  assert.equal(await queue.offer(2).done, false, 'offers after close are refused');
  assert.deepEqual(await queue.next(), { value: undefined, done: true });

  const ending = new Rendezvous<number>();
  const waiting = ending.next();
  ending.end();
  assert.deepEqual(await waiting, { value: undefined, done: true });
});

test('rendezvous: fail rejects the pending and the next pull', async () => {
  const queue = new Rendezvous<number>();
  const waiting = queue.next();
  queue.fail(new ExternalError('consumer stopped', { retriable: false }));
  await assert.rejects(waiting, /consumer stopped/);
  await assert.rejects(queue.next(), /consumer stopped/);
});

test('rendezvous: only one offer at a time', () => {
  const queue = new Rendezvous<number>();
  queue.offer(1);
  assert.throws(() => queue.offer(2), /already waiting/);
});

test('partition keys', () => {
  assert.equal(partitionKey('tides.observations', 3), 'tides.observations/3');
  assert.equal(parsePartitionKey('tides.observations', 'tides.observations/12'), 12);
  assert.equal(parsePartitionKey('tides', 'tides.observations/1'), undefined);
  assert.equal(parsePartitionKey('tides', 'file:tides/1'), undefined);
  assert.equal(parsePartitionKey('tides', 'tides/x'), undefined);
});

test('start positions: checkpoint first, else earliest/latest; clamped to what the log holds', () => {
  const lines: string[] = [];
  const marks = [
    { partition: 0, low: 0, high: 100 },
    { partition: 1, low: 50, high: 80 },
    { partition: 2, low: 10, high: 10 },
    { partition: 3, low: 0, high: 5 },
  ];
  const from = { 't/0': 40, 't/1': 20, 't/3': 9, 'other/0': 1 };
  const earliest = startPositions('t', from, marks, 'earliest', (line) => lines.push(line));
  assert.deepEqual([...earliest], [[0, 40], [1, 50], [2, 10], [3, 5]]);
  assert.equal(lines.length, 2, 'retention gap and past-the-end are reported');
  assert.match(lines[0], /t\/1: offsets 20\.\.49 are gone/);
  const latest = startPositions('t', {}, marks, 'latest');
  assert.deepEqual([...latest], [[0, 100], [1, 80], [2, 10], [3, 5]]);
});

test('tracker: re-fetched records are dropped, bounded runs cut at the end offset', () => {
  const tracker = new PartitionTracker('t');
  tracker.start(0, 10);
  tracker.start(1, 0);
  tracker.stopAt(new Map([[0, 15], [1, 0]]));
  assert.equal(tracker.partitionDone(1), true, 'an empty partition is done at once');
  assert.equal(tracker.isDone(), false);
  // kafkajs re-delivers 8..9 after a rebalance; 15.. lies beyond the bounded run.
  assert.deepEqual(tracker.select(0, [8, 9, 10, 11, 12, 13, 14, 15, 16]), { from: 2, to: 7 });
  tracker.delivered(0, 13);
  assert.deepEqual(tracker.select(0, [10, 11, 12, 13, 14, 15]), { from: 3, to: 5 });
  assert.equal(tracker.isDone(), false);
  tracker.delivered(0, 15);
  assert.equal(tracker.isDone(), true);
  // A later, smaller position never moves the tracker back.
  tracker.delivered(0, 12);
  assert.equal(tracker.nextOffset(0), 15);
  // Partitions unknown at start-up are not part of a bounded run.
  assert.deepEqual(tracker.select(7, [0, 1]), { from: 0, to: 0 });
});

test('tracker: gaps (compaction, transaction markers) are fine; lag = high watermark - next', () => {
  const tracker = new PartitionTracker('t');
  tracker.start(0, 0);
  assert.deepEqual(tracker.select(0, [3, 7, 8]), { from: 0, to: 3 });
  tracker.delivered(0, 9);
  tracker.observeHighWatermark(0, 20);
  tracker.start(1, 4);
  tracker.observeHighWatermark(1, 4);
  assert.deepEqual(tracker.lag(), { 't/0': 11, 't/1': 0 });
  assert.equal(tracker.isDone(), false, 'an unbounded run never ends');
});

test('kafkajs errors keep their retriable flag', () => {
  assert.equal(toExternalError({ name: 'KafkaJSConnectionError', message: 'refused', retriable: true }, 'x').retriable, true);
  assert.equal(toExternalError({ name: 'KafkaJSNumberOfRetriesExceeded', message: 'gave up' }, 'x').retriable, true);
  // A certificate the client does not trust is configuration: no retry fixes it, and the message says what to do.
  const socket = { name: 'KafkaJSConnectionError', message: 'Connection error: self-signed certificate', retriable: true, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' };
  const untrusted = toExternalError({ name: 'KafkaJSNumberOfRetriesExceeded', message: socket.message, cause: socket }, 'cannot connect');
  assert.equal(untrusted.retriable, false);
  assert.match(untrusted.message, /^kafka: cannot connect: Connection error: self-signed certificate \(TLS: .*DEPTH_ZERO_SELF_SIGNED_CERT.*NODE_EXTRA_CA_CERTS/);
  const plaintextPort = toExternalError({ name: 'KafkaJSConnectionError', message: 'Connection error: wrong version number', code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'x');
  assert.equal(plaintextPort.retriable, false);
  assert.match(plaintextPort.message, /without TLS/);
  assert.equal(toExternalError({ name: 'KafkaJSConnectionError', message: 'Connection error: connect ECONNREFUSED', code: 'ECONNREFUSED' }, 'x').retriable, true);
  assert.equal(toExternalError({ name: 'KafkaJSProtocolError', message: 'auth', retriable: false }, 'x').retriable, false);
});

const readerType = avro.Type.forSchema({
  type: 'record',
  name: 'R',
  fields: [
    { name: 't', type: 'long' },
    { name: 'v', type: ['null', 'double'], default: null },
  ],
});

function raw(payloads: Array<Buffer | null>): RawBatch {
  return {
    payloads,
    offsets: Float64Array.from(payloads.map((_, i) => 100 + i)),
    source: { partition: 't/0', fromOffset: 100, toOffset: 100 + payloads.length },
  };
}

test('decoder: a registry outage is waited out, never dead-lettered', async () => {
  let calls = 0;
  const registry = {
    async getWriterType(id: number) {
      calls++;
      if (calls <= 2) throw new ExternalError('schema registry unreachable', { retriable: true });
      if (id === 9) throw new DecodeError(`unknown schema id ${id}`);
      return readerType;
    },
    close() {},
  } as unknown as SchemaRegistry;
  const retries: string[] = [];
  const decoder = createKafkaAvroDecoder({ kind: 'avro-registry', registryUrl: 'http://127.0.0.1:1', readerSchema: '' }, readerType, {
    registry,
    log: (line) => retries.push(line),
  });
  const good = encodeConfluent(1, readerType, { t: 5, v: 1.5 });
  const unknown = encodeConfluent(9, readerType, { t: 6, v: null });
  const result = rowsOf(await decoder.decode(raw([good, unknown, Buffer.from('{"error":{}}'), null])));
  assert.ok(retries.length >= 1 && /unreachable\); retrying in/.test(retries[0]), 'the failed attempt was retried');
  assert.deepEqual(result.rows, [{ t: 5, v: 1.5 }]);
  assert.deepEqual(Array.from(result.offsets), [100]);
  assert.deepEqual(
    result.deadLetters.map((letter) => [letter.offset, letter.stage, letter.partition]),
    [
      [101, 'decode', 't/0'],
      [102, 'decode', 't/0'],
      [103, 'decode', 't/0'],
    ],
  );
  assert.match(result.deadLetters[0].reason, /^unknown schema id 9\b/);
  assert.match(result.deadLetters[1].reason, /^bad magic byte 0x7b/);
  assert.match(result.deadLetters[2].reason, /^empty payload/);
});

test('decoder: only pool threads read batches ahead; rows read in-thread never do, at any --workers', async () => {
  const registry = { async getWriterType() { return readerType; }, close() {} } as unknown as SchemaRegistry;
  const format = { kind: 'avro-registry', registryUrl: 'http://127.0.0.1:1', readerSchema: '' } as const;
  // An in-thread decoder's `expand` reads the batch decoded last: reading ahead would hand late records the wrong payloads.
  for (const workers of [1, 2, 4]) assert.equal(createKafkaAvroDecoder(format, readerType, { registry, workers }).overlaps, false, `--workers ${workers}`);
  const plan = {
    readerSchema: readerType.schema(),
    projectedSchema: null,
    wholeAboveBytes: 0,
    skipped: [],
    eventTimeField: 't',
    validatorNow: Date.now(),
    window: {
      kind: 'window', id: 'w', key: [], window: { kind: 'tumbling', sizeMs: 60_000, anchorMs: 0 }, aggregates: [{ name: 'n', fn: 'count', field: 'v' }],
      allowedLatenessMs: 0, emit: 'final', at: { line: 1, col: 1 },
    },
  } as unknown as PreAggregationPlan;
  assert.equal(createKafkaAvroDecoder(format, readerType, { registry, workers: 1, plan }).overlaps, false);
  const pooled = createKafkaAvroDecoder(format, readerType, { registry, workers: 2, plan });
  assert.equal(pooled.overlaps, true);
  await pooled.close?.();
});

test('kafkajs log lines: error answers kafkajs recovers from by itself are not written; the rest are', () => {
  // The texts as kafkajs' error table has them, so a kafkajs that reworded one fails here.
  const { errorCodes } = require('kafkajs/src/protocol/error') as { errorCodes: Array<{ type: string; message: string }> };
  const text = (type: string) => errorCodes.find((code) => code.type === type)!.message;
  assert.equal(kafkaLogLine({ message: 'Response SyncGroup(key: 14, version: 3)', error: text('REBALANCE_IN_PROGRESS') }), null);
  assert.equal(kafkaLogLine({ message: 'Response InitProducerId(key: 22, version: 1)', error: text('GROUP_LOAD_IN_PROGRESS') }), null);
  // Every name in the list is one kafkajs has (a name it does not know would silently suppress nothing).
  for (const type of SELF_HEALING_KAFKA_ERRORS) {
    assert.ok(errorCodes.some((code) => code.type === type), `kafkajs has no error ${type}`);
    assert.equal(kafkaLogLine({ message: 'Response JoinGroup(key: 11, version: 5)', error: text(type) }), null, type);
  }
  assert.equal(SELF_HEALING_KAFKA_ERRORS.length, 7);
  assert.equal(kafkaLogLine({ message: 'Limiting retries for the idempotent producer to Number.MAX_SAFE_INTEGER' }), null);
  // Anything else is written as it comes: other error answers, the same text outside a response, connection errors.
  assert.equal(
    kafkaLogLine({ message: 'Response Fetch(key: 1, version: 11)', error: text('TOPIC_AUTHORIZATION_FAILED') }),
    `kafka: Response Fetch(key: 1, version: 11) (${text('TOPIC_AUTHORIZATION_FAILED')})`,
  );
  assert.equal(kafkaLogLine({ message: 'Crash', error: text('REBALANCE_IN_PROGRESS') }), `kafka: Crash (${text('REBALANCE_IN_PROGRESS')})`);
  assert.equal(kafkaLogLine({ message: 'Connection error', error: 'connect ECONNREFUSED 127.0.0.1:9092' }), 'kafka: Connection error (connect ECONNREFUSED 127.0.0.1:9092)');
});
