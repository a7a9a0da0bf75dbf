import assert from 'node:assert/strict';
import { test } from 'node:test';
import { types } from 'cassandra-driver';
import fc from 'fast-check';
import { WireSlab, wireEncoder } from './cassandra-wire';

/** The driver's own encoder (not in its typings), set up as createCassandraClient sets up the client's. */
interface DriverEncoder {
  encode(value: unknown, type: { code: number }): Buffer | null;
}
const { Encoder } = require('cassandra-driver') as { Encoder: new (protocolVersion: number, options: object) => DriverEncoder };
const driver = new Encoder(types.protocolVersion.v4, { encoding: { useBigIntAsLong: true } });

const dataTypes = types.dataTypes as unknown as { getByName(name: string): { code: number } };
const byDriver = (type: string, value: unknown): Buffer | null => driver.encode(value, dataTypes.getByName(type));

/** Our bytes for `value` in a column of `type` equal the driver's, for every value the column's converter lets through. */
function sameBytes<T>(type: string, values: fc.Arbitrary<T>, asDriverTakes: (value: T) => unknown = (value) => value): void {
  const slab = new WireSlab();
  const encode = wireEncoder(type, slab)!;
  fc.assert(
    fc.property(values, (value) => {
      const ours = encode(value);
      assert.ok(Buffer.isBuffer(ours), `${type}: ${String(value)} is written as bytes`);
      assert.deepEqual(ours, byDriver(type, asDriverTakes(value)));
    }),
    { numRuns: 2000 },
  );
}

test('numbers are the bytes the driver writes: double, float, int, smallint, tinyint, bigint, boolean', () => {
  sameBytes('double', fc.double());
  sameBytes('float', fc.double());
  sameBytes('int', fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
  sameBytes('smallint', fc.integer({ min: -(2 ** 15), max: 2 ** 15 - 1 }));
  sameBytes('tinyint', fc.integer({ min: -128, max: 127 }));
  sameBytes('bigint', fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
  sameBytes('boolean', fc.boolean());
});

test('timestamps: whole milliseconds and Dates, before and after 1970, as the driver writes them', () => {
  const ms = fc.integer({ min: -8.64e15, max: 8.64e15 });
  sameBytes('timestamp', ms);
  sameBytes('timestamp', fc.constantFrom(0, -1, 1, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER));
  sameBytes('timestamp', ms.map((value) => new Date(value)));
});

test('text: any string (multi-byte, lone surrogates, long, empty) as the driver writes it, repeats from the cache included', () => {
  const strings = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string({ minLength: 60, maxLength: 200 }), fc.constantFrom('', '8454000', 'The Battery, NY', '\ud800', 'é€😀'));
  sameBytes('text', strings);
  sameBytes('varchar', strings);
  // Repeats come from the cache: the same bytes, and the first encoding is not overwritten by later ones.
  const encode = wireEncoder('text', new WireSlab())!;
  const first = encode('8454000') as Buffer;
  for (let i = 0; i < 10_000; i++) encode(`other ${i}`);
  assert.equal(first.toString('utf8'), '8454000');
  assert.deepEqual(encode('8454000'), byDriver('text', '8454000'));
});

test('a column of unique strings stops caching and still writes them right', () => {
  const encode = wireEncoder('text', new WireSlab())!;
  const written: Buffer[] = [];
  for (let i = 0; i < 40_000; i++) written.push(encode(`unique-${i}`) as Buffer);
  written.forEach((bytes, i) => assert.equal(bytes.toString('utf8'), `unique-${i}`));
});

test('pieces already handed out are never overwritten (a retried request resends them)', () => {
  const slab = new WireSlab();
  const pieces = Array.from({ length: 20_000 }, (_, i) => slab.double(i + 0.5));
  pieces.forEach((piece, i) => assert.equal(piece.readDoubleBE(0), i + 0.5));
  const micros = Array.from({ length: 20_000 }, (_, i) => slab.int64(1_795_000_000_000_000 + i));
  micros.forEach((piece, i) => assert.equal(piece.readBigInt64BE(0), 1_795_000_000_000_000n + BigInt(i)));
});

test('null, unset and values of another type pass through for the driver; other column types are the driver\'s', () => {
  const slab = new WireSlab();
  for (const type of ['text', 'double', 'int', 'bigint', 'timestamp', 'boolean']) {
    const encode = wireEncoder(type, slab)!;
    assert.equal(encode(null), null);
    assert.equal(encode(types.unset), types.unset);
  }
  assert.equal(wireEncoder('double', slab)!('1.5'), '1.5');
  for (const type of ['ascii', 'uuid', 'decimal', 'blob', 'list<int>', 'counter', 'date']) assert.equal(wireEncoder(type, slab), null, type);
});
