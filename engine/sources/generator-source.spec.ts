import { durationMs, durationSchema, timestampMs, timestampSchema } from '../config/component';
import type { ComponentContext, JsonSchema } from '../config/component';
import type { GeneratorSourceSpec } from '../config/job';

/**
 * Generator source: synthetic tide observations from a harmonic model, with
 * controlled duplicates, disorder, late records and null readings, for demos,
 * tests and benchmarks. Deterministic for a given `seed`.
 *
 * @example
 * source:
 *   generator: { stations: ["8454000"], start: 2024-01-01T00:00:00Z, count: 10000, interval: 6m }
 */

export interface GeneratorSourceConfig {
  stations: string[];
  start: string;
  count: number;
  interval?: string;
  duplicateRate?: number;
  disorder?: string;
  lateRate?: number;
  nullRate?: number;
  seed?: number;
  batchSize?: number;
}

const DEFAULTS = {
  interval: '6m',
  duplicateRate: 0,
  disorder: '0s',
  lateRate: 0,
  nullRate: 0,
  seed: 42,
  batchSize: 4096,
};

const rate = (description: string): JsonSchema => ({ description, type: 'number', minimum: 0, maximum: 1, default: 0, examples: [0.05] });

export const schema: JsonSchema = {
  title: 'generator source',
  description: 'Generates synthetic observations.',
  type: 'object',
  required: ['stations', 'start', 'count'],
  additionalProperties: false,
  properties: {
    stations: {
      description: 'NOAA station ids to simulate (quote them: they are strings).',
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      uniqueItems: true,
      examples: [['8454000']],
    },
    start: timestampSchema('Event time of the first observation.'),
    count: { description: 'Observations per station.', type: 'integer', minimum: 1, examples: [10000] },
    interval: durationSchema('Event time between observations of a station.', { default: DEFAULTS.interval, positive: true }),
    duplicateRate: rate('Share of observations sent twice.'),
    disorder: durationSchema('Largest event-time disorder introduced (keep within eventTime.maxOutOfOrder to avoid late records).', {
      default: DEFAULTS.disorder,
      examples: ['5m'],
    }),
    lateRate: rate('Share of observations held back beyond the disorder, so they arrive late.'),
    nullRate: rate('Share of observations whose reading `v` is null.'),
    seed: { description: 'Random seed.', type: 'integer', default: DEFAULTS.seed },
    batchSize: { description: 'Rows per batch.', type: 'integer', minimum: 1, default: DEFAULTS.batchSize },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: GeneratorSourceConfig, _context: ComponentContext): GeneratorSourceSpec {
  return {
    stations: [...raw.stations],
    startMs: timestampMs(raw.start),
    count: raw.count,
    intervalMs: durationMs(raw.interval ?? DEFAULTS.interval),
    duplicateRate: raw.duplicateRate ?? DEFAULTS.duplicateRate,
    disorderMs: durationMs(raw.disorder ?? DEFAULTS.disorder),
    lateRate: raw.lateRate ?? DEFAULTS.lateRate,
    nullRate: raw.nullRate ?? DEFAULTS.nullRate,
    seed: raw.seed ?? DEFAULTS.seed,
    batchSize: raw.batchSize ?? DEFAULTS.batchSize,
  };
}
