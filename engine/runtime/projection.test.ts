import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as avro from 'avsc';
import { loadJobFile } from '../config';
import type { JobSpec } from '../config/job';
import { encodeConfluent, ConfluentAvroDecoder } from '../codecs/confluent-avro';
import { loadAvroType } from '../codecs/avro-schema';
import { inputFieldsUsed, projectReaderType } from './projection';

const ROOT = join(__dirname, '..', '..', '..');
const job = (name: string) => loadJobFile(join(ROOT, 'jobs', `${name}.yaml`), { cwd: ROOT });

test('window jobs read only event time, keys and aggregate inputs; pass-through jobs read everything', () => {
  assert.deepEqual([...inputFieldsUsed(job('tides-lunar-day'))!].sort(), ['station', 't', 'v']);
  assert.deepEqual([...inputFieldsUsed(job('tides-30m-average'))!].sort(), ['station', 't', 'v']);
  assert.equal(inputFieldsUsed(job('tides-dedupe')), null);
});

test('filter and map references count; fields a map computes do not; a route before the window needs all', () => {
  const base = job('tides-30m-average');
  const window = base.steps[0];
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
  return decoder.decodeBatch([encodeConfluent(1, full, row)], [0], 'p').then((decoded) => {
    assert.deepEqual(decoded.rows, [{ station: '8454000', t: 1_600_000_000_000, v: 1.25 }]);
    assert.equal(projectReaderType(full, null, (schema) => avro.Type.forSchema(schema)), full);
  });
});
