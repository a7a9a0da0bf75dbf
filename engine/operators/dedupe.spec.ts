import { durationMs, durationSchema, fieldListSchema, STATEFUL_ID_WHY, stepIdSchema } from '../config/component';
import type { JsonSchema, StepContext } from '../config/component';
import type { DedupeStepSpec } from '../config/job';

/**
 * Dedupe step: drops repeats of a key, first arrival wins, remembering each
 * key for `horizon` of event time past the watermark.
 *
 * @example
 * steps:
 *   - dedupe: { id: dedupe-observations, key: [station, t], horizon: 2h }
 */

export interface DedupeConfig {
  id: string;
  key: string[];
  horizon: string;
}

export const schema: JsonSchema = {
  title: 'dedupe step',
  description: 'Drops rows whose key was already seen within the horizon.',
  type: 'object',
  required: ['id', 'key', 'horizon'],
  requiredWhy: { id: STATEFUL_ID_WHY },
  additionalProperties: false,
  properties: {
    id: stepIdSchema(true),
    key: fieldListSchema('Fields that identify a repeat.', [['station', 't']], 1),
    horizon: durationSchema('How long (event time) a key is remembered.', { positive: true, examples: ['2h'] }),
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: DedupeConfig, context: StepContext): DedupeStepSpec {
  return { kind: 'dedupe', id: raw.id, key: [...raw.key], horizonMs: durationMs(raw.horizon), at: context.at };
}
