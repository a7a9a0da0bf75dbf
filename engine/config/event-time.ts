import { durationMs, durationSchema } from './component';
import type { JsonSchema } from './component';
import type { EventTimeSpec } from './job';

/**
 * `eventTime:` — which field holds event time and how far out of order
 * records may arrive before they count as late.
 *
 * @example
 * eventTime: { field: t, maxOutOfOrder: 30m, idleTimeout: 1m, maxDrift: 1h }
 */

export interface EventTimeConfig {
  field: string;
  maxOutOfOrder?: string;
  idleTimeout?: string;
  maxDrift?: string;
}

const DEFAULTS = { maxOutOfOrder: '0s', idleTimeout: '1m', maxDrift: '1h' };

export const schema: JsonSchema = {
  title: 'eventTime',
  description: 'Event time and watermark settings.',
  type: 'object',
  required: ['field'],
  additionalProperties: false,
  properties: {
    field: { description: 'Row field with the event time (epoch ms or ISO-8601).', type: 'string', minLength: 1, examples: ['t'] },
    maxOutOfOrder: durationSchema('Watermark = max event time seen - maxOutOfOrder.', { default: DEFAULTS.maxOutOfOrder, examples: ['30m'] }),
    idleTimeout: durationSchema('A partition silent this long (wall clock) stops holding the watermark back.', {
      default: DEFAULTS.idleTimeout,
      positive: true,
    }),
    maxDrift: durationSchema(
      'While a backlog is read, a partition whose event time runs more than this ahead of the watermark waits until the others catch up (keeps open windows and dedupe keys bounded).',
      { default: DEFAULTS.maxDrift, positive: true, examples: ['1h'] },
    ),
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: EventTimeConfig): EventTimeSpec {
  return {
    field: raw.field,
    maxOutOfOrderMs: durationMs(raw.maxOutOfOrder ?? DEFAULTS.maxOutOfOrder),
    idleTimeoutMs: durationMs(raw.idleTimeout ?? DEFAULTS.idleTimeout),
    maxDriftMs: durationMs(raw.maxDrift ?? DEFAULTS.maxDrift),
  };
}
