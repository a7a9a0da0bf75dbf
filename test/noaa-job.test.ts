import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Reporter } from '../engine/config/component';
import { substituteEnv } from '../engine/config/env';
import { engineExpressionParser } from '../engine/jobfile/expression-parser';
import { createAjv } from '../engine/jobfile/keywords';
import * as httpSource from '../engine/sources/http-source';
import * as noaaSource from '../engine/sources/noaa-source';

const ROOT = join(__dirname, '..', '..');

/** Environment references replaced the way the job loader does, with an empty environment (defaults). */
function withDefaults(value: unknown): unknown {
  if (typeof value === 'string') {
    const result = substituteEnv(value, {});
    if (!result.ok) throw new Error(result.problems.map((problem) => problem.message).join('; '));
    return result.value;
  }
  if (Array.isArray(value)) return value.map(withDefaults);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withDefaults(item)]));
  return value;
}

function problems(module: { check(raw: never, report: Reporter): void }, raw: unknown): string[] {
  const found: string[] = [];
  const report = (path: ReadonlyArray<string | number>, message: string) => found.push(`${path.join('.')}: ${message}`);
  module.check(raw as never, { atValue: report, atKey: report, atOwner: report });
  return found;
}

/**
 * jobs/noaa-to-kafka.yaml's source, checked against the `noaa` component the
 * way the job loader will once the kind is registered: the schema compiles in
 * the engine's strict Ajv, the file's source passes it and the checks, and
 * normalises to the polite defaults.
 */
describe('jobs/noaa-to-kafka.yaml', () => {
  const job = withDefaults(parse(readFileSync(join(ROOT, 'jobs', 'noaa-to-kafka.yaml'), 'utf8'))) as Record<string, Record<string, unknown>>;

  it('names its source, sink and topic as the reference jobs expect', () => {
    assert.deepEqual(Object.keys(job.source), ['noaa']);
    const kafka = job.sink.kafka as Record<string, unknown>;
    assert.equal(kafka.topic, 'tides.observations');
    assert.deepEqual(kafka.format, { avro: { registry: 'http://localhost:8081', readerSchema: '../schemas/tide_observation.avsc' } });
  });

  it("has a source the noaa component's schema and checks accept", () => {
    const ajv = createAjv(engineExpressionParser);
    const validate = ajv.compile(noaaSource.schema);
    assert.ok(validate(job.source.noaa), JSON.stringify(validate.errors));
    assert.deepEqual(problems(noaaSource, job.source.noaa), []);
    const spec = noaaSource.normalize(job.source.noaa as unknown as noaaSource.NoaaSourceConfig, { job: 'noaa-to-kafka' });
    assert.deepEqual(
      { stations: spec.stations, product: spec.product, datum: spec.datum, units: spec.units, application: spec.application, baseUrl: spec.baseUrl },
      {
        stations: ['8454000', '8443970', '8518750', '9414290', '8729108'],
        product: 'water_level',
        datum: 'MLLW',
        units: 'metric',
        application: 'tideflow',
        baseUrl: 'https://api.tidesandcurrents.noaa.gov/api/prod/datagetter',
      },
    );
    assert.deepEqual([spec.intervalMs, spec.backfillMs, spec.requestGapMs, spec.concurrency], [360_000, 30 * 86_400_000, 3000, 2]);
    assert.equal(noaaSource.noaaSource(spec).description, 'NOAA CO-OPS water_level (5 stations, api.tidesandcurrents.noaa.gov)');
  });

  it('the http schema compiles in the same strict Ajv and rejects what it should', () => {
    const validate = createAjv(engineExpressionParser).compile(httpSource.schema);
    assert.ok(validate({ url: 'https://api.example.org/{key}', keys: ['a'], auth: { bearer: 't' }, rate: { requests: 1, per: '2s' }, retry: { attempts: 3 } }), JSON.stringify(validate.errors));
    assert.ok(!validate({ url: 'ftp://x' }));
    assert.ok(!validate({ url: 'https://x', auth: { bearer: 't', basic: { username: 'u', password: 'p' } } }));
    assert.ok(!validate({ url: 'https://x', interval: 60 }));
  });
});
