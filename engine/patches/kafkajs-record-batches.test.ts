import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { readRecordBatch } from './kafkajs-record-batches';

// kafkajs' own decoder and encoders (this test process never installs ours in its place).
type Decoder = { buffer: Buffer; offset: number };
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => Decoder;
const kafkajsReadRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: Decoder) => Promise<unknown>;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch(options: object): Promise<{ buffer: Buffer }> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (record: object) => { buffer: Buffer };
const Long = require('kafkajs/src/utils/long') as { fromValue(value: string | number | bigint): unknown };
const { Types: Compression } = require('kafkajs/src/protocol/message/compression') as { Types: { None: number; GZIP: number } };

/** Where a record batch's attributes sit: first offset (8), length (4), leader epoch (4), magic (1), CRC (4). */
const ATTRIBUTES_AT = 21;

/** Read every batch of `bytes` with `read`, as kafkajs' fetch decoder loops over them; an error is part of the answer. */
async function readAll(read: (decoder: Decoder) => Promise<unknown>, bytes: Buffer): Promise<unknown> {
  const decoder = new Decoder(bytes);
  const batches: unknown[] = [];
  try {
    while (decoder.offset < bytes.length) batches.push(await read(decoder));
  } catch (error) {
    batches.push({ error: (error as Error).name, message: (error as Error).message });
  }
  return { batches, offset: decoder.offset };
}

async function sameAsKafkajs(bytes: Buffer): Promise<void> {
  const theirs = await readAll(kafkajsReadRecordBatch, bytes);
  const ours = await readAll(readRecordBatch as (decoder: Decoder) => Promise<unknown>, bytes);
  assert.deepEqual(ours, theirs);
}

const bytes = (max: number) => fc.option(fc.uint8Array({ maxLength: max }).map((array) => Buffer.from(array)), { nil: null });
const headerValue = fc.string({ maxLength: 8 }).map((text) => Buffer.from(text));
const record = fc.record({
  key: bytes(40),
  value: bytes(300),
  timestampDelta: fc.oneof(fc.integer({ min: -100_000, max: 100_000 }), fc.integer({ min: -(2 ** 52), max: 2 ** 52 })),
  headers: fc.oneof(
    { weight: 4, arbitrary: fc.constant({}) },
    fc.dictionary(fc.constantFrom('a', 'b', 'trace-id'), fc.oneof(headerValue, fc.array(headerValue, { minLength: 1, maxLength: 3 })), { maxKeys: 3 }),
  ),
});
const batch = fc.record({
  records: fc.array(record, { maxLength: 40 }),
  firstOffset: fc.oneof(fc.bigInt({ min: 0n, max: 1_000_000n }), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })),
  firstTimestamp: fc.oneof(fc.bigInt({ min: 1_600_000_000_000n, max: 1_900_000_000_000n }), fc.constant(-1n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
  gzip: fc.boolean(),
  transactional: fc.boolean(),
  // The timestamp-type and control flags kafkajs' encoder never sets, flipped in afterwards (the CRC is not checked).
  logAppendTime: fc.boolean(),
  control: fc.boolean(),
});

async function encodeBatch(spec: BatchSpec): Promise<Buffer> {
  const encoded = await RecordBatch({
    compression: spec.gzip ? Compression.GZIP : Compression.None,
    firstOffset: Long.fromValue(spec.firstOffset),
    firstTimestamp: Long.fromValue(spec.firstTimestamp),
    maxTimestamp: Long.fromValue(spec.firstTimestamp),
    lastOffsetDelta: Math.max(0, spec.records.length - 1),
    transactional: spec.transactional,
    records: spec.records.map((item, offsetDelta) => Record({ ...item, offsetDelta })),
  });
  const out = Buffer.from(encoded.buffer);
  out.writeInt16BE(out.readInt16BE(ATTRIBUTES_AT) | (spec.logAppendTime ? 0x8 : 0) | (spec.control ? 0x20 : 0), ATTRIBUTES_AT);
  return out;
}
interface BatchSpec {
  records: Array<{ key: Buffer | null; value: Buffer | null; timestampDelta: number; headers: Record<string, unknown> }>;
  firstOffset: bigint;
  firstTimestamp: bigint;
  gzip: boolean;
  transactional: boolean;
  logAppendTime: boolean;
  control: boolean;
}

test('record batches read exactly as kafkajs reads them: offsets, timestamps, keys, values, headers, flags, compression, several batches', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(batch, { minLength: 1, maxLength: 3 }), async (specs) => {
      const encoded = await Promise.all(specs.map((spec) => encodeBatch(spec as BatchSpec)));
      await sameAsKafkajs(Buffer.concat(encoded));
    }),
    { numRuns: 300 },
  );
});

test('keys and values are views into the fetched buffer, as kafkajs hands them out', async () => {
  const encoded = await encodeBatch({ records: [{ key: Buffer.from('k'), value: Buffer.from('value'), timestampDelta: 3, headers: {} }], firstOffset: 7n, firstTimestamp: 1_700_000_000_000n, gzip: false, transactional: false, logAppendTime: false, control: false });
  const result = (await readRecordBatch(new Decoder(encoded) as never)) as { records: Array<{ value: Buffer; offset: string; timestamp: string }> };
  const [only] = result.records;
  assert.equal(only.value.buffer, encoded.buffer);
  assert.equal(only.value.toString(), 'value');
  assert.equal(only.offset, '7');
  assert.equal(only.timestamp, '1700000000003');
});

/** A zigzag varint the long way: `extra` continuation bytes of padding that add nothing. */
function varint(value: number, extra = 0): number[] {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  const out: number[] = [];
  do {
    const low = zigzag % 128;
    zigzag = Math.floor(zigzag / 128);
    out.push(low);
  } while (zigzag > 0);
  for (let i = 0; i < extra; i++) out.push(0);
  for (let i = 0; i < out.length - 1; i++) out[i] |= 0x80;
  return out;
}

/** One uncompressed batch whose records are the given raw bodies (length prefixes written here unless `lengths` says). */
function rawBatch(bodies: number[][], lengths?: number[]): Buffer {
  const records = bodies.flatMap((body, i) => [...varint(lengths?.[i] ?? body.length), ...body]);
  const header = Buffer.alloc(8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4);
  let at = 0;
  header.writeBigInt64BE(100n, at);
  at += 8;
  const batchLength = header.length - 12 + records.length;
  header.writeInt32BE(batchLength, at);
  at += 4 + 4;
  header.writeInt8(2, at);
  at += 1 + 4 + 2 + 4;
  header.writeBigInt64BE(1_700_000_000_000n, at);
  at += 8;
  header.writeBigInt64BE(1_700_000_000_000n, at);
  at += 8 + 8 + 2 + 4;
  header.writeInt32BE(bodies.length, at);
  return Buffer.concat([header, Buffer.from(records)]);
}

test('records off the common path (padded varints, huge deltas, bad lengths, trailing bytes) come out as kafkajs makes them', async () => {
  const plain = [0, ...varint(5), ...varint(0), ...varint(1), 65, ...varint(2), 66, 67, ...varint(0)];
  const cases: Array<[string, Buffer]> = [
    ['plain', rawBatch([plain])],
    ['padded offset delta varint (6 bytes)', rawBatch([[0, ...varint(5), ...varint(1, 5), ...varint(-1), ...varint(-1), ...varint(0)]])],
    ['padded length varint within 5 bytes', rawBatch([[0, ...varint(5), ...varint(1, 3), ...varint(-1), ...varint(-1), ...varint(0)]])],
    ['timestamp delta of 2^50', rawBatch([[0, ...varint(2 ** 50), ...varint(0), ...varint(-1), ...varint(-1), ...varint(0)]])],
    ['negative timestamp delta', rawBatch([[0, ...varint(-12345), ...varint(0), ...varint(-1), ...varint(-1), ...varint(0)]])],
    ['headers count -1', rawBatch([[0, ...varint(0), ...varint(0), ...varint(-1), ...varint(-1), ...varint(-1)]])],
    ['trailing bytes after the headers', rawBatch([[...plain, 9, 9, 9]])],
    ['value length -2', rawBatch([[0, ...varint(0), ...varint(0), ...varint(-1), ...varint(-2), ...varint(0)]])],
    ['value longer than the record', rawBatch([[0, ...varint(0), ...varint(0), ...varint(-1), ...varint(50), 1, 2, ...varint(0)]])],
    ['record length 0', rawBatch([[], plain])],
    ['record length past the batch', rawBatch([plain], [200])],
    ['two records, the second with a header', rawBatch([plain, [0, ...varint(0), ...varint(1), ...varint(-1), ...varint(1), 7, ...varint(1), ...varint(1), 104, ...varint(1), 118]])],
  ];
  for (const [name, bytes] of cases) {
    await sameAsKafkajs(bytes).catch((error: Error) => {
      throw new Error(`${name}: ${error.message}`);
    });
  }
  // Cut short: the partial-batch error kafkajs' fetch decoder stops at, with the same message.
  const whole = rawBatch([plain, plain]);
  await sameAsKafkajs(whole.subarray(0, whole.length - 3));
});

test('installing puts the reader in kafkajs before its first fetch, and says why when it cannot', () => {
  const modulePath = join(__dirname, 'kafkajs-record-batches.js');
  const run = (script: string, env: Record<string, string> = {}) => {
    const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as { active: boolean; reason: string; bound?: boolean };
  };
  const install = `const m = require(${JSON.stringify(modulePath)}); const state = m.installRecordBatchReader();`;
  // What kafkajs' fetch responses (v4 and later) call is then ours.
  const bound = `require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages'); const cached = require.cache[require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder')];`;
  const installed = run(`${install} ${bound} console.log(JSON.stringify({ ...state, bound: cached.exports === m.readRecordBatch }));`);
  assert.deepEqual(installed, { active: true, reason: 'installed', bound: true });

  const late = run(`require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages'); ${install} console.log(JSON.stringify(state));`);
  assert.equal(late.active, false);
  assert.match(late.reason, /already loaded its record-batch decoder/);

  const off = run(`${install} console.log(JSON.stringify(state));`, { TIDEFLOW_KAFKAJS_RECORD_READER: 'kafkajs' });
  assert.equal(off.active, false);
  assert.match(off.reason, /TIDEFLOW_KAFKAJS_RECORD_READER=kafkajs/);
});
