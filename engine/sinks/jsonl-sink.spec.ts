import type { ComponentContext, JsonSchema } from '../config/component';

/**
 * JSONL sink: one JSON object per line, timestamps as ISO-8601 UTC strings.
 *
 * @example
 * sink:
 *   jsonl: { path: out/lunar-day.jsonl }
 */

export interface JsonlSinkConfig {
  path: string;
}

export const schema: JsonSchema = {
  title: 'jsonl sink',
  description: 'Appends rows to a file, one JSON object per line.',
  type: 'object',
  required: ['path'],
  additionalProperties: false,
  properties: {
    path: { description: "Output file; relative to the job file's directory.", type: 'string', minLength: 1, examples: ['out/lunar-day.jsonl'] },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: JsonlSinkConfig, _context: ComponentContext): { path: string } {
  return { path: raw.path };
}
