import { stepIdSchema } from '../config/component';
import type { JsonSchema, StepContext } from '../config/component';
import type { FilterStepSpec } from '../config/job';

/**
 * Filter step: keeps the rows for which `when` is true.
 *
 * @example
 * steps:
 *   - filter: { when: "v != null and q != 'x'" }
 */

export interface FilterConfig {
  id?: string;
  when: string;
}

export const schema: JsonSchema = {
  title: 'filter step',
  description: 'Keeps rows for which `when` is true; the others are counted as filtered out.',
  type: 'object',
  required: ['when'],
  additionalProperties: false,
  properties: {
    id: stepIdSchema(false),
    when: { description: 'Condition over the row\'s fields.', type: 'string', expression: true, examples: ["v != null and q != 'x'"] },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: FilterConfig, context: StepContext): FilterStepSpec {
  return { kind: 'filter', id: raw.id ?? context.defaultId, when: raw.when, at: context.at };
}
