import type { AggregateSet } from '../aggregations/aggregate-set';
import type { Row } from '../core/batch';

/** The output row of one window: key values, bounds (epoch ms) and accumulator in, row out. */
export type WindowRowBuilder = (keyValues: readonly unknown[], start: number, end: number, acc: Float64Array) => Row;

/**
 * Builds a window step's output rows: the key fields, `window_start` and
 * `window_end` (Dates), then each aggregate under its name; a later name
 * replaces an earlier one of the same spelling and keeps its place, as
 * assignments in that order would.
 *
 * Compiled once per step into a single object literal: every row is one
 * allocation of one fixed shape, and each aggregate's result is a call site
 * of its own (monomorphic). Assigning the fields one by one cost about 590 ns
 * a row against 270 ns (30-minute job: avg, min, max, count).
 *
 * @example
 *   const build = windowRowBuilder(['station'], new AggregateSet([{ name: 'high', fn: 'max', field: 'v' }]));
 *   build(['8443970'], 0, 1_800_000, acc); // { station: '8443970', window_start: Date, window_end: Date, high: 1.25 }
 */
export function windowRowBuilder(keyFields: readonly string[], aggregates: AggregateSet): WindowRowBuilder {
  const parts = aggregates.resultParts();
  const names = [...keyFields, 'window_start', 'window_end', ...parts.map((part) => part.name)];
  // `__proto__` in a literal names the prototype, not a field, and may appear only once: such rows are built field by field, as before.
  if (names.includes('__proto__')) return assignedRowBuilder(keyFields, aggregates);
  const fields = [
    ...keyFields.map((field, k) => `${JSON.stringify(field)}: keyValues[${k}]`),
    'window_start: new Date(start)',
    'window_end: new Date(end)',
    ...parts.map((part, i) => `${JSON.stringify(part.name)}: aggregation${i}.result(acc, ${part.offset})`),
  ];
  const build = new Function(
    ...parts.map((_, i) => `aggregation${i}`),
    `return function windowRow(keyValues, start, end, acc) {\n  return { ${fields.join(', ')} };\n};`,
  ) as (...aggregations: unknown[]) => WindowRowBuilder;
  return build(...parts.map((part) => part.aggregation));
}

/** The same rows, field by field (the reference the compiled builder must match). */
export function assignedRowBuilder(keyFields: readonly string[], aggregates: AggregateSet): WindowRowBuilder {
  return (keyValues, start, end, acc) => {
    const row: Row = {};
    for (let k = 0; k < keyFields.length; k++) row[keyFields[k]] = keyValues[k];
    row.window_start = new Date(start);
    row.window_end = new Date(end);
    aggregates.writeResults(acc, row);
    return row;
  };
}
