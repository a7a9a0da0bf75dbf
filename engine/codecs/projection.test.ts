import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as avro from 'avsc';
import { loadJobFile } from '../jobfile';
import type { JobSpec } from '../config/job';
import fc from 'fast-check';
import { CONFLUENT_HEADER_SIZE, encodeConfluent, ConfluentAvroDecoder } from './confluent-avro';
import { loadAvroType } from './avro-schema';
import { createRowValidator } from './validate';
import { decodeProjection, inputFieldsUsed, projectReaderType, skippableFields } from './projection';

const ROOT = join(__dirname, '..', '..', '..');
const job = (name: string) => loadJobFile(join(ROOT, 'jobs', `${name}.yaml`), { cwd: ROOT });

test('window jobs read only event time, keys and aggregate inputs; pass-through jobs read everything', () => {
  assert.deepEqual([...inputFieldsUsed(job('tides-lunar-day'))!].sort(), ['station', 't', 'v']);
  assert.deepEqual([...inputFieldsUsed(job('tides-30m-average'))!].sort(), ['station', 't', 'v']);
  assert.equal(inputFieldsUsed(job('tides-dedupe')), null);
});

test('filter and map references count; fields a map computes do not; a route before the window needs all', () => {
  const base = job('tides-30m-average');
  const window = base.steps.find((step) => step.kind === 'window')!;
  const at = { line: 1, col: 1 };
  const withSteps = (steps: JobSpec['steps']): JobSpec => ({ ...base, steps });
  assert.deepEqual(
    [...inputFieldsUsed(withSteps([{ kind: 'filter', id: 'f', when: "q == 'v' and s < 0.1", at }, { kind: 'map', id: 'm', set: { v: 'v * 0.3048' }, drop: [], at }, window]))!].sort(),
    ['q', 's', 'station', 't', 'v'],
  );
  assert.deepEqual(
    [...inputFieldsUsed(withSteps([{ kind: 'map', id: 'm', set: { level: 'coalesce(v, 0)' }, drop: [], at }, { ...window, aggregates: [{ name: 'avg', fn: 'avg', field: 'level' }] } as JobSpec['steps'][number]]))!].sort(),
    ['station', 't', 'v'],
  );
  assert.equal(inputFieldsUsed(withSteps([{ kind: 'route', id: 'r', routes: [{ when: 'v > 3', to: 'alerts' }], otherwise: 'main', at }, window])), null);
});

test('a projected reader decodes the same values for the fields it keeps, from any writer', () => {
  const full = loadAvroType(join(ROOT, 'schemas', 'tide_observation.avsc'));
  const projected = projectReaderType(full, new Set(['station', 't', 'v']), (schema) => avro.Type.forSchema(schema));
  assert.deepEqual((projected.schema() as { fields: Array<{ name: string }> }).fields.map((f) => f.name), ['station', 't', 'v']);
  const row = { station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: 1_600_000_000_000, v: 1.25, s: 0.01, f: '0,0', q: 'v' };
  const decoder = new ConfluentAvroDecoder(projected, async () => full);
  return decoder.decodeRows([encodeConfluent(1, full, row)], [0], 'p').then((decoded) => {
    assert.deepEqual(decoded.rows, [{ station: '8454000', t: 1_600_000_000_000, v: 1.25 }]);
    assert.equal(projectReaderType(full, null, (schema) => avro.Type.forSchema(schema)), full);
  });
});

test('the lunar-day and 30-minute jobs skip the unread strings (name, f, q) and keep every number', () => {
  const full = loadAvroType(join(ROOT, 'schemas', 'tide_observation.avsc'));
  for (const name of ['tides-lunar-day', 'tides-30m-average']) {
    const projection = decodeProjection(job(name), full);
    assert.ok(projection);
    assert.deepEqual(projection.skipped, ['name', 'f', 'q']);
    assert.deepEqual((projection.type.schema() as { fields: Array<{ name: string }> }).fields.map((f) => f.name), ['station', 'lat', 'lon', 't', 'v', 's']);
    assert.equal(projection.wholeAboveBytes, 5 + 1024);
  }
  assert.equal(decodeProjection(job('tides-dedupe'), full), null);
});

/**
 * Exactness of reading with a projection, for any record and any damage to
 * it: the same dead letters with the same reasons, the same validation
 * verdicts, the kept fields equal, and `expand` gives back the whole record.
 */
test('property: a projected read is exact: same dead letters and verdicts, same kept values, expand = whole record', async () => {
  const full = loadAvroType(join(ROOT, 'schemas', 'tide_observation.avsc'));
  const projection = decodeProjection(job('tides-lunar-day'), full)!;
  const validateWhole = createRowValidator(full, 't');
  const validateProjected = createRowValidator(full, 't', { mayBeAbsent: projection.skipped });
  const text = (maxLength: number) => fc.oneof(fc.string({ maxLength }), fc.string({ unit: 'binary', maxLength }));
  const number = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0));
  const row = fc.record({
    station: text(12),
    // Around the 1,024-character limit, and far over it.
    name: fc.oneof(text(30), fc.integer({ min: 1000, max: 1100 }).map((n) => 'é'.repeat(n)), fc.constant('E'.repeat(100_000))),
    lat: number,
    lon: number,
    t: fc.oneof(fc.integer({ min: 1_500_000_000_000, max: 1_800_000_000_000 }), fc.integer({ min: 0, max: 2_000_000_000 })),
    v: fc.option(number),
    s: fc.option(number),
    f: fc.option(text(20)),
    q: fc.option(text(3)),
  });
  const damage = fc.oneof(
    fc.constant({ kind: 'none' as const, at: 0, byte: 0 }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), byte: fc.constant(0) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('append' as const), at: fc.integer({ min: 1, max: 4 }), byte: fc.integer({ min: 0, max: 255 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(row, damage), { minLength: 1, maxLength: 20 }), async (records) => {
      const payloads = records.map(([value, change]) => {
        const payload = encodeConfluent(1, full, value);
        const body = payload.length - CONFLUENT_HEADER_SIZE;
        if (change.kind === 'truncate') return payload.subarray(0, CONFLUENT_HEADER_SIZE + (change.at % body));
        if (change.kind === 'flip') {
          const copy = Buffer.from(payload);
          copy[CONFLUENT_HEADER_SIZE + (change.at % body)] ^= change.byte;
          return copy;
        }
        if (change.kind === 'append') return Buffer.concat([payload, Buffer.alloc(change.at, change.byte)]);
        return payload;
      });
      const offsets = payloads.map((_, i) => i);
      const whole = await new ConfluentAvroDecoder(full, async () => full).decodeRows(payloads, offsets, 'p');
      const projectedDecoder = new ConfluentAvroDecoder(full, async () => full, projection);
      const projected = await projectedDecoder.decodeRows(payloads, offsets, 'p');
      assert.deepEqual(projected.deadLetters, whole.deadLetters);
      assert.deepEqual(projected.offsets, whole.offsets);
      for (let i = 0; i < whole.rows.length; i++) {
        const wholeRow = whole.rows[i];
        const projectedRow = projected.rows[i];
        assert.equal(validateProjected(projectedRow), validateWhole(wholeRow));
        for (const field of Object.keys(projectedRow)) assert.deepEqual(projectedRow[field], wholeRow[field], field);
        assert.deepEqual(projectedDecoder.expand(projectedRow), wholeRow);
      }
    }),
    { numRuns: 300 },
  );
});

test('no projection when a map step copies rows before the window, or a skipped field has a default over the length limit', () => {
  const full = loadAvroType(join(ROOT, 'schemas', 'tide_observation.avsc'));
  const base = job('tides-30m-average');
  const window = base.steps.find((step) => step.kind === 'window')!;
  const at = { line: 1, col: 1 };
  const mapped: JobSpec = { ...base, steps: [{ kind: 'map', id: 'm', set: { v: 'v * 0.3048' }, drop: [], at }, window] };
  assert.deepEqual(skippableFields(full, inputFieldsUsed(mapped)), ['name', 'f', 'q'], 'the fields are unread...');
  assert.equal(decodeProjection(mapped, full), null, '...but late rows could not be traced back');
  const schema = JSON.parse(JSON.stringify(full.schema())) as { fields: Array<{ name: string; type: unknown; default?: unknown }> };
  schema.fields = schema.fields.map((field) => (field.name === 'q' ? { ...field, type: ['string', 'null'], default: 'x'.repeat(2000) } : field));
  const longDefault = avro.Type.forSchema(schema as avro.Schema);
  assert.deepEqual(decodeProjection(base, longDefault)?.skipped, ['name', 'f']);
});
