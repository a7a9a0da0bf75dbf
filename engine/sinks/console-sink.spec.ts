import type { ComponentContext, JsonSchema } from '../config/component';

/**
 * Console sink: rows on standard output, for trying jobs out.
 *
 * @example
 * sink:
 *   console: { format: table }
 */

export interface ConsoleSinkConfig {
  format?: 'table' | 'jsonl';
}

export const schema: JsonSchema = {
  title: 'console sink',
  description: 'Prints rows to standard output.',
  type: 'object',
  additionalProperties: false,
  properties: {
    format: { description: 'An aligned table, or one JSON object per line.', type: 'string', enum: ['table', 'jsonl'], default: 'table' },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: ConsoleSinkConfig, _context: ComponentContext): { format: 'table' | 'jsonl' } {
  return { format: raw.format ?? 'table' };
}
