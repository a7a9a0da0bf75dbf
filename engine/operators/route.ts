import type { RouteStepSpec } from '../config/job';
import type { Evaluator } from '../expressions/ast';
import { compileStepExpression, isTruthy } from '../expressions/compile';
import { selectRows, type RecordBatch, type Row } from '../core/batch';
import type { Operator, OperatorContext } from '../core/operator';
import { stepIdSchema } from '../config/component';
import type { JsonSchema, StepContext } from '../config/component';

interface CompiledRoute {
  matches: Evaluator;
  /** Index into `RouteOperator.targets`. */
  target: number;
}

/**
 * Sends rows to named outputs by condition. Routes are tried in order and the
 * first whose `when` is true takes the row. Rows no route takes continue down
 * the job (`otherwise: main`) or are dropped and counted in
 * `counters.filteredOut` (`otherwise: drop`).
 *
 * Each target gets at most one `context.emitTo` call per batch, with its rows
 * in input order (targets that receive nothing are not called), so sinks see
 * batches, not single rows. Several routes may share a target. A `when` that
 * evaluates to null, or fails, does not match.
 *
 * @example
 * // steps: - route: { routes: [ { when: "v > 3", to: alerts } ], otherwise: main }
 * const route = new RouteOperator({ kind: 'route', id: 'alerts', routes: [{ when: 'v > 3', to: 'alerts' }], otherwise: 'main', at: { line: 6, col: 5 } });
 * route.process(batch, context) // rows with v > 3 go to emitTo('alerts', ...); the others are returned
 */
export class RouteOperator implements Operator {
  readonly id: string;
  /** Distinct `to` names, in order of first appearance. */
  private readonly targets: string[];
  private readonly routes: CompiledRoute[];
  private readonly dropUnmatched: boolean;

  /** @throws ConfigError when a route's `when` does not parse. */
  constructor(spec: RouteStepSpec, options: { file?: string } = {}) {
    this.id = spec.id;
    this.targets = [...new Set(spec.routes.map((route) => route.to))];
    this.routes = spec.routes.map((route, index) => ({
      matches: compileStepExpression(route.when, { stepId: spec.id, property: `routes[${index}].when`, at: spec.at, file: options.file }),
      target: this.targets.indexOf(route.to),
    }));
    this.dropUnmatched = spec.otherwise === 'drop';
  }

  process(batch: RecordBatch, context: OperatorContext): RecordBatch {
    const { rows } = batch;
    const routes = this.routes;
    const routed: Row[][] = this.targets.map(() => []);
    const unmatched = new Uint8Array(rows.length);
    let unmatchedCount = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      let taken = false;
      for (let r = 0; r < routes.length; r++) {
        if (isTruthy(routes[r].matches(row))) {
          routed[routes[r].target].push(row);
          taken = true;
          break;
        }
      }
      if (!taken) {
        unmatched[i] = 1;
        unmatchedCount++;
      }
    }
    for (let t = 0; t < routed.length; t++) {
      if (routed[t].length > 0) context.emitTo(this.targets[t], routed[t]);
    }
    if (this.dropUnmatched) {
      context.counters.filteredOut += unmatchedCount;
      return selectRows(batch, new Uint8Array(rows.length), 0);
    }
    return selectRows(batch, unmatched, unmatchedCount);
  }
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Route step: sends rows to named sinks (declared under `sinks:`) by
 * condition; the first matching route wins.
 *
 * @example
 * steps:
 *   - route: { routes: [ { when: "range > 3", to: alerts } ], otherwise: main }
 */

export interface RouteConfig {
  id?: string;
  routes: Array<{ when: string; to: string }>;
  otherwise?: 'main' | 'drop';
}

export const schema: JsonSchema = {
  title: 'route step',
  description: 'Sends rows to named sinks by condition.',
  examples: [{ routes: [{ when: 'range > 3', to: 'alerts' }], otherwise: 'main' }],
  type: 'object',
  required: ['routes'],
  additionalProperties: false,
  properties: {
    id: stepIdSchema(false),
    routes: {
      description: 'Checked in order; a row goes to the first route whose `when` is true.',
      type: 'array',
      minItems: 1,
      items: {
        title: 'route',
        type: 'object',
        required: ['when', 'to'],
        additionalProperties: false,
        properties: {
          when: { description: 'Condition over the row.', type: 'string', expression: true, examples: ['range > 3'] },
          to: { description: 'A sink named under `sinks:`.', type: 'string', minLength: 1, examples: ['alerts'] },
        },
      },
    },
    otherwise: {
      description: 'Rows matching no route: `main` continues down the job, `drop` discards them.',
      type: 'string',
      enum: ['main', 'drop'],
      default: 'main',
    },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: RouteConfig, context: StepContext): RouteStepSpec {
  return {
    kind: 'route',
    id: raw.id ?? context.defaultId,
    routes: raw.routes.map((route) => ({ when: route.when, to: route.to })),
    otherwise: raw.otherwise ?? 'main',
    at: context.at,
  };
}
