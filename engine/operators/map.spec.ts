import { fieldListSchema, stepIdSchema } from '../config/component';
import type { JsonSchema, Reporter, StepContext } from '../config/component';
import type { MapStepSpec } from '../config/job';

/**
 * Map step: sets fields from expressions over the input row, then drops fields.
 *
 * @example
 * steps:
 *   - map: { set: { v_ft: "v * 3.28084" }, drop: [q] }
 */

export interface MapConfig {
  id?: string;
  set?: Record<string, string | number | boolean>;
  drop?: string[];
}

export const schema: JsonSchema = {
  title: 'map step',
  description: 'Adds or replaces fields, and drops fields.',
  type: 'object',
  additionalProperties: false,
  properties: {
    id: stepIdSchema(false),
    set: {
      title: 'map set',
      description: 'Output field -> expression over the input row (every expression sees the row as it came in).',
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', patternHint: 'a field name (letters, digits, _)' },
      additionalProperties: { type: ['string', 'number', 'boolean'], expression: true },
      examples: [{ v_ft: 'v * 3.28084' }],
    },
    drop: fieldListSchema('Fields to remove.', [['q', 'f']]),
  },
};

/** Checks beyond the schema; runs on any input, so it looks before it trusts. */
export function check(raw: MapConfig, report: Reporter): void {
  if (raw.set === undefined && raw.drop === undefined) {
    report.atOwner([], "map step has nothing to do: add 'set' (new fields) or 'drop' (fields to remove)");
  }
  if (raw.set !== null && typeof raw.set === 'object' && Array.isArray(raw.drop)) {
    raw.drop.forEach((field, index) => {
      if (typeof field === 'string' && Object.prototype.hasOwnProperty.call(raw.set, field)) {
        report.atValue(['drop', index], `'${field}' is both set and dropped by this step; keep one`);
      }
    });
  }
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: MapConfig, context: StepContext): MapStepSpec {
  const set: Record<string, string> = {};
  for (const [field, expression] of Object.entries(raw.set ?? {})) set[field] = String(expression);
  return { kind: 'map', id: raw.id ?? context.defaultId, set, drop: [...(raw.drop ?? [])], at: context.at };
}
