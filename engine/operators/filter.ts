import type { FilterStepSpec } from '../config/job';
import { compileStepExpression, isTruthy } from '../expressions/compile';
import type { Evaluator } from '../expressions/ast';
import { selectRows, type RecordBatch } from '../core/batch';
import type { Operator, OperatorContext } from '../core/operator';
import { stepIdSchema } from '../config/component';
import type { JsonSchema, StepContext } from '../config/component';

/**
 * Keeps the rows for which `when` is true; the rest are counted in
 * `counters.filteredOut`.
 *
 * Only `null` and `false` count as false (see `isTruthy`), so a `when` that
 * evaluates to null — a missing field, or an evaluation error such as
 * `sqrt('x')` — drops the row rather than stopping the job.
 *
 * @example
 * // steps: - filter: { when: "v != null and q != 'x'" }
 * const filter = new FilterOperator({ kind: 'filter', id: 'valid', when: "v != null", at: { line: 4, col: 5 } });
 * filter.process(batch, context).rows // the rows of `batch` that have a `v`
 */
export class FilterOperator implements Operator {
  readonly id: string;
  private readonly keep: Evaluator;

  /** @throws ConfigError when `when` does not parse (the config validator normally catches this first). */
  constructor(spec: FilterStepSpec, options: { file?: string } = {}) {
    this.id = spec.id;
    this.keep = compileStepExpression(spec.when, { stepId: spec.id, property: 'when', at: spec.at, file: options.file });
  }

  process(batch: RecordBatch, context: OperatorContext): RecordBatch {
    const { rows } = batch;
    const keep = this.keep;
    const mask = new Uint8Array(rows.length);
    let kept = 0;
    for (let i = 0; i < rows.length; i++) {
      if (isTruthy(keep(rows[i]))) {
        mask[i] = 1;
        kept++;
      }
    }
    context.counters.filteredOut += rows.length - kept;
    // selectRows keeps `watermarks` and `offsets` aligned with the surviving rows.
    return selectRows(batch, mask, kept);
  }
}

// ---------------------------------------------------------------- job-file configuration

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
  examples: [{ id: 'valid-readings', when: "v != null and q != 'x'" }],
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
