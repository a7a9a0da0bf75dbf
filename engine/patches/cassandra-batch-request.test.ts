import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { driverBatchRequestWrite, writeBatchRequest, type BatchItem, type BatchRequestFields, type DriverEncoder } from './cassandra-batch-request';

// The driver's own request class and encoder (this test process never installs the writer).
const { BatchRequest } = require('cassandra-driver/lib/requests') as { BatchRequest: new (queries: BatchItem[], options: object) => BatchRequestFields };
const Encoder = require('cassandra-driver/lib/encoder') as new (version: number, options: object) => DriverEncoder;
const types = require('cassandra-driver/lib/types') as { unset: object; Long: { fromString(value: string): unknown }; dataTypes: Record<string, number> };
const { dataTypes } = types;

type Outcome = { frame: string; length: number | undefined } | { error: string; message: string; length: number | undefined };

/** What a writer gives for a request: the frame and the body length it records, or the error it throws. */
function outcome(write: typeof writeBatchRequest, request: BatchRequestFields, encoder: DriverEncoder, streamId: number): Outcome {
  request.length = undefined;
  try {
    const frame = write.call(request, encoder, streamId);
    return { frame: frame.toString('hex'), length: request.length };
  } catch (error) {
    // What the driver records before it throws counts as well.
    return { error: (error as Error).name, message: (error as Error).message, length: request.length };
  }
}

function sameAsDriver(request: BatchRequestFields, encoder: DriverEncoder, streamId = 7): Outcome {
  const theirs = outcome(driverBatchRequestWrite, request, encoder, streamId);
  const ours = outcome(writeBatchRequest, request, encoder, streamId);
  assert.deepEqual(ours, theirs);
  return ours;
}

interface OptionsSpec {
  tracing: boolean;
  payload: boolean;
  consistency: number;
  serial: number | null;
  timestamp: bigint | null;
  keyspace: string | null;
  logged: boolean;
  hints: Array<Array<string | number | null> | null> | null;
}

/** The driver's execution options, as far as a batch request reads them. */
function executionOptions(spec: OptionsSpec): object {
  return {
    getOrGenerateTimestamp: () => (spec.timestamp === null ? null : types.Long.fromString(String(spec.timestamp))),
    getHints: () => spec.hints,
    isBatchCounter: () => false,
    isBatchLogged: () => spec.logged,
    isQueryTracing: () => spec.tracing,
    getCustomPayload: () => (spec.payload ? { trace: Buffer.from('x') } : undefined),
    getConsistency: () => spec.consistency,
    getSerialConsistency: () => spec.serial,
    getKeyspace: () => spec.keyspace,
  };
}

// A bound value and the column type it is bound to.
const typedValue = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 80 }).map((bytes) => ({ value: Buffer.from(bytes) as unknown, type: dataTypes.blob })) },
  fc.constantFrom({ value: null, type: dataTypes.int }, { value: undefined, type: dataTypes.text }, { value: types.unset, type: dataTypes.double }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ value, type: dataTypes.int })),
  fc.double().map((value) => ({ value, type: dataTypes.double })),
  fc.string({ maxLength: 40, unit: 'grapheme' }).map((value) => ({ value, type: dataTypes.text })),
  fc.boolean().map((value) => ({ value, type: dataTypes.boolean })),
  fc.integer({ min: -8.64e12, max: 8.64e12 }).map((ms) => ({ value: new Date(ms), type: dataTypes.timestamp })),
  // Over 64 KiB, past any small-value path.
  { weight: 1, arbitrary: fc.integer({ min: 65_536, max: 70_000 }).map((length) => ({ value: Buffer.alloc(length, length & 0xff) as unknown, type: dataTypes.blob })) },
);
// Pairs that do not fit: the encoder's error is then the answer, from both writers.
const misfit = fc.constantFrom(
  { value: new Uint8Array([1, 2, 3]) as unknown, type: dataTypes.blob },
  { value: 'not a number', type: dataTypes.int },
  { value: 2 ** 40, type: dataTypes.int },
);

const item = (faulty: boolean) =>
  fc.record({
    prepared: fc.boolean(),
    queryId: fc.uint8Array({ minLength: 1, maxLength: 32 }),
    // A Buffer (what the driver's prepare gives), or any Uint8Array; a string id is an error.
    idKind: faulty ? fc.constantFrom('buffer', 'uint8array', 'string') : fc.constantFrom('buffer', 'uint8array'),
    query: fc.string({ maxLength: 60, unit: 'grapheme' }),
    values: fc.array(faulty ? fc.oneof(typedValue, misfit) : typedValue, { maxLength: 12 }),
    // Hints by code or by name; without hints the driver guesses types (and may not manage).
    hintStyle: faulty ? fc.constantFrom('code', 'name', 'none') : fc.constantFrom('code', 'name'),
    // Fewer column types than values, or no column types at all: the driver throws once it needs one.
    meta: faulty ? fc.constantFrom('columns', 'short', 'missing', 'null') : fc.constant('columns'),
    // Parameters the driver does not take as a list: it fails, skips holes, or binds nothing.
    params: faulty ? fc.constantFrom('array', 'string', 'array-like', 'null', 'sparse') : fc.constant('array'),
  });

// One request in six may hold faults; the rest should give frames.
const request = fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }).chain((faulty) =>
  fc.record({
    items: fc.array(item(faulty), { minLength: 1, maxLength: 40 }),
    tracing: fc.boolean(),
    payload: fc.boolean(),
    consistency: fc.constantFrom(1, 4, 6, 10),
    serial: fc.constantFrom(null, 8, 9),
    timestamp: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { nil: null }),
    keyspace: fc.option(fc.string({ maxLength: 20, unit: 'grapheme' }), { nil: null }),
    logged: fc.boolean(),
    // Versions 1 and 2 (one-byte stream ids, no timestamps) and unset before v4 are the driver's to refuse or write.
    version: faulty ? fc.constantFrom(1, 2, 3, 4, 5, 0x41, 0x42) : fc.constantFrom(4, 0x41, 0x42),
    unsetForUndefined: fc.boolean(),
    streamId: faulty ? fc.integer({ min: -40_000, max: 40_000 }) : fc.integer({ min: 0, max: 127 }),
    // A hole in the list of statements (the driver skips it), and a hints list gone after construction.
    hole: faulty ? fc.boolean() : fc.constant(false),
    noHints: faulty ? fc.boolean() : fc.constant(false),
  }),
);

const typeName = (code: number) => Object.keys(dataTypes).find((name) => dataTypes[name] === code)!;

test('batch frames are byte for byte what cassandra-driver writes, for any batch, options and protocol version', () => {
  fc.assert(
    fc.property(request, (spec) => {
      const queries: BatchItem[] = spec.items.map((entry) => {
        const list = entry.values.map((typed) => typed.value);
        const params = (
          {
            array: list,
            string: 'ab',
            'array-like': { ...list, length: list.length },
            null: null,
            sparse: list.length > 1 ? (delete list[1], list) : list,
          } as Record<string, unknown>
        )[entry.params] as unknown[];
        if (!entry.prepared) return { query: entry.query, params };
        const columns = entry.values.map((typed) => ({ type: { code: typed.type } }));
        if (entry.meta === 'short' && columns.length > 0) columns.pop();
        const queryId = { buffer: Buffer.from(entry.queryId), uint8array: Uint8Array.from(entry.queryId), string: 'id' }[entry.idKind] as Uint8Array;
        const meta = { columns: { columns, short: columns, missing: undefined, null: null }[entry.meta] as Array<{ type: unknown }> };
        return { query: entry.query, params, queryId, ...(entry.meta === 'missing' ? {} : { meta }) };
      });
      if (spec.hole && queries.length > 1) delete queries[queries.length - 1];
      const hints = spec.items.map((entry) =>
        entry.hintStyle === 'none' ? null : entry.values.map((typed) => (entry.hintStyle === 'code' ? typed.type : typeName(typed.type))),
      );
      const options = executionOptions({ ...spec, hints: spec.items.some((entry) => entry.hintStyle !== 'none') ? hints : null });
      const encoder = new Encoder(spec.version, { encoding: { useUndefinedAsUnset: spec.unsetForUndefined } });
      const batch = new BatchRequest(queries, options);
      if (spec.noHints) (batch as { hints: unknown }).hints = null;
      sameAsDriver(batch, encoder, spec.streamId);
    }),
    { numRuns: 400 },
  );
});

test('the sink\'s shape of batch (prepared, values already bytes) is written by tideflow, not handed back to the driver', () => {
  const spec: OptionsSpec = { tracing: false, payload: false, consistency: 1, serial: null, timestamp: 1_700_000_000_000_000n, keyspace: null, logged: false, hints: null };
  const columns = [{ type: { code: dataTypes.text } }, { type: { code: dataTypes.timestamp } }, { type: { code: dataTypes.double } }];
  const rows: BatchItem[] = [0, 1, 2].map((i) => ({
    query: 'INSERT INTO tides.observations (station, t, v) VALUES (?, ?, ?)',
    params: [Buffer.from('8454000'), Buffer.alloc(8, i), i === 1 ? null : Buffer.alloc(40, i)],
    queryId: Buffer.from('0123456789abcdef'),
    meta: { columns },
  }));
  const encoder = new Encoder(4, {});
  const written = sameAsDriver(new BatchRequest(rows, executionOptions(spec)), encoder);
  assert.ok('frame' in written);
  // Header (9) + type, count (3) + per row: kind, id (1 + 2 + 16), count (2), values (4 + 7, 4 + 8, 4 + 0 or 40) + consistency, flags, timestamp (11).
  assert.equal(written.frame.length / 2, 9 + 3 + 3 * (1 + 2 + 16 + 2 + 11 + 12) + 2 * 44 + 4 + 11);

  // Handed back to the driver, every value would be encoded twice (once here, once there).
  const counting = new Encoder(4, {});
  const encode = counting.encode.bind(counting);
  let encodes = 0;
  counting.encode = (value, type) => {
    encodes++;
    return encode(value, type);
  };
  writeBatchRequest.call(new BatchRequest(rows, executionOptions(spec)), counting, 1);
  assert.equal(encodes, 9);
});

test('a sparse parameter array and an empty batch get what the driver does with them', () => {
  const spec: OptionsSpec = { tracing: false, payload: false, consistency: 1, serial: null, timestamp: null, keyspace: null, logged: true, hints: null };
  const encoder = new Encoder(4, {});
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [Buffer.from('a'), , Buffer.from('b')];
  sameAsDriver(new BatchRequest([{ query: 'INSERT', params: sparse }], executionOptions(spec)), encoder);
  const empty = sameAsDriver(new BatchRequest([], executionOptions(spec)), encoder);
  assert.ok('error' in empty);
});

test('installing replaces the driver\'s BatchRequest writer, and says why when it does not', () => {
  const modulePath = join(__dirname, 'cassandra-batch-request.js');
  const run = (script: string, env: Record<string, string> = {}) => {
    const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as { active: boolean; reason: string; bound: boolean };
  };
  const script =
    `const m = require(${JSON.stringify(modulePath)}); const state = m.installBatchRequestWriter();` +
    ` const bound = require('cassandra-driver/lib/requests').BatchRequest.prototype.write === m.writeBatchRequest;` +
    ` console.log(JSON.stringify({ ...state, bound }));`;
  assert.deepEqual(run(script), { active: true, reason: 'installed', bound: true });

  const off = run(script, { TIDEFLOW_CASSANDRA_BATCH_WRITER: 'driver' });
  assert.equal(off.active, false);
  assert.equal(off.bound, false);
  assert.match(off.reason, /TIDEFLOW_CASSANDRA_BATCH_WRITER=driver/);
});
