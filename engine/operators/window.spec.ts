import { parseAggregateCall } from '../config/aggregate-call';
import {
  durationMs,
  durationSchema,
  fieldListSchema,
  STATEFUL_ID_WHY,
  stepIdSchema,
  timestampMs,
  timestampSchema,
} from '../config/component';
import type { JsonSchema, Reporter, StepContext } from '../config/component';
import { parseDuration } from '../config/duration';
import type { AggregateSpec, WindowKindSpec, WindowStepSpec } from '../config/job';

/**
 * Window step: groups rows per key into event-time windows and emits one row
 * per (key, window) with `window_start`, `window_end` and the aggregates.
 *
 * @example
 * steps:
 *   - window:
 *       id: lunar-day
 *       key: [station]
 *       lunarDay: { mode: mean }
 *       aggregate: { high: max(v), high_time: time_of_max(v), count: count(v) }
 */

export interface WindowConfig {
  id: string;
  key: string[];
  tumbling?: { size: string; anchor?: string };
  hopping?: { size: string; slide: string; anchor?: string };
  session?: { gap: string };
  lunarDay?: { mode?: 'mean' | 'transit'; anchor?: string; lon?: string; lat?: string };
  allowedLateness?: string;
  emit?: 'final' | 'update';
  aggregate: Record<string, string>;
}

export const WINDOW_KINDS = ['tumbling', 'hopping', 'session', 'lunarDay'] as const;
/** Fields every window result row carries besides its key and aggregates. */
export const WINDOW_BOUND_FIELDS = ['window_start', 'window_end'] as const;
const EPOCH = '1970-01-01T00:00:00Z';

const anchor = timestampSchema('Instant windows are aligned to.', EPOCH);

export const schema: JsonSchema = {
  title: 'window step',
  description: 'Event-time windows per key, with aggregates.',
  type: 'object',
  required: ['id', 'key', 'aggregate'],
  requiredWhy: { id: STATEFUL_ID_WHY },
  exactlyOneOf: [...WINDOW_KINDS],
  selector: 'window kind',
  additionalProperties: false,
  properties: {
    id: stepIdSchema(true),
    key: fieldListSchema('Fields that group rows; [] for one window over all rows.', [['station']]),
    tumbling: {
      title: 'tumbling window',
      description: 'Back-to-back windows of one size.',
      type: 'object',
      required: ['size'],
      additionalProperties: false,
      properties: { size: durationSchema('Window length.', { positive: true, examples: ['30m'] }), anchor },
    },
    hopping: {
      title: 'hopping window',
      description: 'Overlapping windows of `size`, one starting every `slide`.',
      type: 'object',
      required: ['size', 'slide'],
      additionalProperties: false,
      properties: {
        size: durationSchema('Window length.', { positive: true, examples: ['1h'] }),
        slide: durationSchema('Time between window starts (at most `size`).', { positive: true, examples: ['15m'] }),
        anchor,
      },
    },
    session: {
      title: 'session window',
      description: 'Per key, a window that stays open while rows arrive less than `gap` apart.',
      type: 'object',
      required: ['gap'],
      additionalProperties: false,
      properties: { gap: durationSchema('Silence that closes a session.', { positive: true, examples: ['2h'] }) },
    },
    lunarDay: {
      title: 'lunarDay window',
      description:
        'Lunar days: `mean` tumbles by 24h50m28.329s from `anchor`; `transit` runs from one upper transit of the Moon over the station to the next.',
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { type: 'string', enum: ['mean', 'transit'], default: 'mean' },
        anchor: { ...anchor, description: 'Instant `mean` windows are aligned to (mode mean only).' },
        lon: { description: 'Row field with the station longitude (mode transit only).', type: 'string', minLength: 1, default: 'lon' },
        lat: { description: 'Row field with the station latitude (mode transit only).', type: 'string', minLength: 1, default: 'lat' },
      },
    },
    allowedLateness: durationSchema('How long past its end (by watermark) a window still takes rows.', { default: '0s' }),
    emit: {
      description: '`final`: one row per window when it closes; `update`: a row whenever a window changed in a batch.',
      type: 'string',
      enum: ['final', 'update'],
      default: 'final',
    },
    aggregate: {
      title: 'window aggregate',
      description: 'Output field -> `fn(field)`; fn one of count sum avg min max range first last stddev time_of_max time_of_min.',
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', patternHint: 'a field name (letters, digits, _)' },
      additionalProperties: { type: 'string', aggregateCall: true },
      examples: [{ high: 'max(v)', high_time: 'time_of_max(v)', count: 'count(v)' }],
    },
  },
};

/** Checks beyond the schema; runs on any input, so it looks before it trusts. */
export function check(raw: Partial<WindowConfig>, report: Reporter): void {
  const hopping = raw.hopping;
  if (hopping !== null && typeof hopping === 'object') {
    const size = typeof hopping.size === 'string' ? parseDuration(hopping.size) : null;
    const slide = typeof hopping.slide === 'string' ? parseDuration(hopping.slide) : null;
    if (size !== null && slide !== null && slide > size) {
      report.atValue(['hopping', 'slide'], `'slide' (${hopping.slide}) is longer than 'size' (${hopping.size}): rows between windows would be lost; use a slide of at most ${hopping.size}`);
    }
  }
  const lunarDay = raw.lunarDay;
  if (lunarDay !== null && typeof lunarDay === 'object') {
    const transit = lunarDay.mode === 'transit';
    if (transit && lunarDay.anchor !== undefined) {
      report.atKey(['lunarDay', 'anchor'], "'anchor' applies to mode mean only: transit windows follow the Moon; remove it");
    }
    for (const field of ['lon', 'lat'] as const) {
      if (!transit && lunarDay[field] !== undefined) {
        report.atKey(['lunarDay', field], `'${field}' applies to mode transit only; remove it or set mode: transit`);
      }
    }
  }
  const aggregate = raw.aggregate;
  if (aggregate !== null && typeof aggregate === 'object' && !Array.isArray(aggregate)) {
    const taken = new Set<string>([...WINDOW_BOUND_FIELDS, ...(Array.isArray(raw.key) ? raw.key.filter((k) => typeof k === 'string') : [])]);
    for (const name of Object.keys(aggregate)) {
      if (taken.has(name)) {
        report.atKey(['aggregate', name], `aggregate output '${name}' clashes with a ${name.startsWith('window_') ? 'window bound' : 'key field'} of the result row; rename it`);
      }
    }
  }
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: WindowConfig, context: StepContext): WindowStepSpec {
  return {
    kind: 'window',
    id: raw.id,
    key: [...raw.key],
    window: windowKind(raw),
    allowedLatenessMs: durationMs(raw.allowedLateness ?? '0s'),
    emit: raw.emit ?? 'final',
    aggregates: Object.entries(raw.aggregate).map(([name, call]): AggregateSpec => {
      const parsed = parseAggregateCall(call);
      if (!parsed.ok) throw new Error(`internal: unvalidated aggregate ${call}`);
      return { name, fn: parsed.fn, field: parsed.field };
    }),
    at: context.at,
  };
}

function windowKind(raw: WindowConfig): WindowKindSpec {
  if (raw.tumbling !== undefined) {
    return { kind: 'tumbling', sizeMs: durationMs(raw.tumbling.size), anchorMs: timestampMs(raw.tumbling.anchor ?? EPOCH) };
  }
  if (raw.hopping !== undefined) {
    return {
      kind: 'hopping',
      sizeMs: durationMs(raw.hopping.size),
      slideMs: durationMs(raw.hopping.slide),
      anchorMs: timestampMs(raw.hopping.anchor ?? EPOCH),
    };
  }
  if (raw.session !== undefined) return { kind: 'session', gapMs: durationMs(raw.session.gap) };
  const lunarDay = raw.lunarDay ?? {};
  if (lunarDay.mode === 'transit') return { kind: 'lunarDay', mode: 'transit', lonField: lunarDay.lon ?? 'lon', latField: lunarDay.lat ?? 'lat' };
  return { kind: 'lunarDay', mode: 'mean', anchorMs: timestampMs(lunarDay.anchor ?? EPOCH) };
}
