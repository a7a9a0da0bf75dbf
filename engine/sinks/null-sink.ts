import type { Row } from '../core/batch';
import type { Sink } from '../core/sink';
import type { ComponentContext, JsonSchema } from '../config/component';

/** Discards rows (benchmarks, dry runs); counts them. */
export class NullSink implements Sink {
  readonly description = 'null sink (results discarded)';
  rows = 0;
  async open(): Promise<void> {}
  async write(rows: Row[]): Promise<void> {
    this.rows += rows.length;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

// ---------------------------------------------------------------- job-file configuration

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
  examples: [{}],
  type: 'object',
  additionalProperties: false,
  properties: {},
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(_raw: NullSinkConfig, _context: ComponentContext): Record<string, never> {
  return {};
}
