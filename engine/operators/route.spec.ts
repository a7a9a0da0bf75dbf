import { stepIdSchema } from '../config/component';
import type { JsonSchema, StepContext } from '../config/component';
import type { RouteStepSpec } from '../config/job';

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
