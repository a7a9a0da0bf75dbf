import type { ComponentContext, JsonSchema } from '../config/component';

/**
 * Null sink: discards rows (benchmarks of everything before the sink).
 *
 * @example
 * sink:
 *   null: {}
 */

export type NullSinkConfig = Record<string, never>;

export const schema: JsonSchema = {
  title: 'null sink',
  description: 'Discards every row.',
  type: 'object',
  additionalProperties: false,
  properties: {},
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(_raw: NullSinkConfig, _context: ComponentContext): Record<string, never> {
  return {};
}
