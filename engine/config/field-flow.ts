import { parseAggregateCall } from './aggregate-call';
import { readAvscFields, readContainerFields } from './avro-fields';
import { didYouMean } from './did-you-mean';
import type { ExpressionParser } from './expression-parser';
import type { ProblemCollector } from './problems';
import { childPointer } from './yaml-tree';
import { formatFromPath } from '../sources/file-source.spec';
import { WINDOW_BOUND_FIELDS } from '../operators/window.spec';

/**
 * Follows the set of row fields from the source through every step, so that
 * a misspelt field in a key, an aggregate or a primary key is caught before a
 * run instead of silently grouping everything under `undefined`.
 *
 * The source's fields are known from an Avro schema (Kafka reader schema, or
 * the header of an Avro data file) or the generator's record shape; when they
 * are not known, checks start at the first window, whose output is known.
 */

/** The records the generator source produces (DESIGN.md section 3). */
const GENERATOR_FIELDS = ['station', 'name', 'lat', 'lon', 't', 'v', 's', 'f', 'q'];

type Json = Record<string, unknown>;

class Fields {
  constructor(
    readonly names: Set<string> | undefined,
    readonly origin: string,
  ) {}

  /** Reports `field` if the set is known and lacks it; true when it is fine. */
  require(collector: ProblemCollector, pointer: string, field: unknown, at?: { index: number }): void {
    if (this.names === undefined || typeof field !== 'string' || this.names.has(field)) return;
    const listed = [...this.names];
    const message = `no field '${field}' in ${this.origin}${didYouMean(field, listed)}; available: ${listed.join(', ')}`;
    if (at === undefined) collector.atValue(pointer, message);
    else collector.atOffset(pointer, at.index, message);
  }
}

const isMap = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Reports every field a job uses that its rows will not have. Relative paths
 * (reader schema, Avro data file) start at `jobDir`, the job file's
 * directory; `cwd`, when given, is where a path missing there is also looked
 * for, to say how to write it.
 */
export function checkFieldFlow(data: Json, collector: ProblemCollector, jobDir: string, parseExpression: ExpressionParser, cwd?: string): void {
  let fields = sourceFields(data, collector, jobDir, cwd);
  const eventTime = data.eventTime;
  if (isMap(eventTime)) fields.require(collector, '/eventTime/field', eventTime.field);

  const routedFields = new Map<string, Fields>();
  const steps = Array.isArray(data.steps) ? data.steps : [];
  steps.forEach((item, index) => {
    if (!isMap(item)) return;
    const kinds = Object.keys(item);
    if (kinds.length !== 1) return;
    const kind = kinds[0];
    const step = item[kind];
    const base = childPointer(childPointer('/steps', index), kind);
    if (!isMap(step)) return;
    const here = fields.names === undefined ? fields : new Fields(fields.names, 'the rows reaching this step');
    const requireAll = (list: unknown, name: string) => {
      if (Array.isArray(list)) list.forEach((field, i) => here.require(collector, childPointer(childPointer(base, name), i), field));
    };
    const requireReferenced = (pointer: string, text: unknown) => {
      if (typeof text !== 'string') return;
      for (const reference of referencedFields(parseExpression, text)) here.require(collector, pointer, reference.name, { index: reference.index });
    };
    switch (kind) {
      case 'filter':
        requireReferenced(childPointer(base, 'when'), step.when);
        return;
      case 'map': {
        if (isMap(step.set)) {
          const setHere = new Set(Object.keys(step.set));
          for (const [name, text] of Object.entries(step.set)) {
            const pointer = childPointer(childPointer(base, 'set'), name);
            if (typeof text !== 'string') continue;
            for (const reference of referencedFields(parseExpression, text)) {
              if (setHere.has(reference.name) && here.names !== undefined && !here.names.has(reference.name)) {
                collector.atOffset(pointer, reference.index, `'${reference.name}' is set by this same map step, and set expressions see the input row; compute it in an earlier map step`);
              } else {
                here.require(collector, pointer, reference.name, { index: reference.index });
              }
            }
          }
        }
        requireAll(step.drop, 'drop');
        if (fields.names !== undefined) {
          const next = new Set(fields.names);
          if (isMap(step.set)) for (const name of Object.keys(step.set)) next.add(name);
          if (Array.isArray(step.drop)) for (const name of step.drop) if (typeof name === 'string') next.delete(name);
          fields = new Fields(next, 'the rows reaching this step');
        }
        return;
      }
      case 'dedupe':
        requireAll(step.key, 'key');
        return;
      case 'window': {
        requireAll(step.key, 'key');
        const output = new Set<string>(Array.isArray(step.key) ? step.key.filter((k): k is string => typeof k === 'string') : []);
        for (const bound of WINDOW_BOUND_FIELDS) output.add(bound);
        if (isMap(step.aggregate)) {
          for (const [name, call] of Object.entries(step.aggregate)) {
            output.add(name);
            if (typeof call !== 'string') continue;
            const parsed = parseAggregateCall(call);
            if (parsed.ok) here.require(collector, childPointer(childPointer(base, 'aggregate'), name), parsed.field, { index: call.indexOf(parsed.field, call.indexOf('(')) });
          }
        }
        fields = new Fields(output, `the rows of window step '${String(step.id)}'`);
        return;
      }
      case 'route':
        if (Array.isArray(step.routes)) {
          step.routes.forEach((route, i) => {
            if (!isMap(route)) return;
            requireReferenced(`${base}/routes/${i}/when`, route.when);
            if (typeof route.to === 'string') routedFields.set(route.to, fields);
          });
        }
        return;
      default:
        return;
    }
  });

  checkCassandraColumns(data.sink, '/sink', fields, collector);
  if (isMap(data.sinks)) {
    for (const [name, sink] of Object.entries(data.sinks)) {
      checkCassandraColumns(sink, childPointer('/sinks', name), routedFields.get(name) ?? new Fields(undefined, ''), collector);
    }
  }
}

function sourceFields(data: Json, collector: ProblemCollector, jobDir: string, cwd: string | undefined): Fields {
  const source = data.source;
  if (!isMap(source)) return new Fields(undefined, '');
  if (isMap(source.generator)) return new Fields(new Set(GENERATOR_FIELDS), "the generator's records");
  const kafka = source.kafka;
  if (isMap(kafka) && isMap(kafka.format) && isMap(kafka.format.avro) && typeof kafka.format.avro.readerSchema === 'string') {
    const path = kafka.format.avro.readerSchema;
    const result = readAvscFields(path, jobDir, cwd);
    if (!result.ok) {
      collector.atValue('/source/kafka/format/avro/readerSchema', result.message);
      return new Fields(undefined, '');
    }
    return new Fields(new Set(result.record.fields), `${result.record.name} records`);
  }
  const file = source.file;
  if (isMap(file) && typeof file.path === 'string') {
    const format = typeof file.format === 'string' ? file.format : formatFromPath(file.path);
    if (format === 'avro') {
      const record = readContainerFields(file.path, jobDir);
      if (record !== undefined) return new Fields(new Set(record.fields), `${record.name} records`);
    }
  }
  return new Fields(undefined, '');
}

function checkCassandraColumns(sink: unknown, pointer: string, fields: Fields, collector: ProblemCollector): void {
  if (!isMap(sink) || !isMap(sink.cassandra)) return;
  const cassandra = sink.cassandra;
  const base = childPointer(pointer, 'cassandra');
  const columns = isMap(cassandra.columns) ? cassandra.columns : undefined;
  const rowFields = new Fields(fields.names, fields.names === undefined ? '' : 'the rows this sink receives');
  if (columns !== undefined) {
    for (const [column, field] of Object.entries(columns)) rowFields.require(collector, childPointer(childPointer(base, 'columns'), column), field);
  }
  const primaryKey = cassandra.primaryKey;
  if (!isMap(primaryKey)) return;
  // Key columns are columns: with an explicit mapping they must be mapped; without one they are row fields.
  const columnNames = columns === undefined ? rowFields : new Fields(new Set(Object.keys(columns)), "this sink's 'columns'");
  for (const part of ['partition', 'clustering']) {
    const list = primaryKey[part];
    if (Array.isArray(list)) {
      list.forEach((column, i) => columnNames.require(collector, childPointer(childPointer(childPointer(base, 'primaryKey'), part), i), column));
    }
  }
}

/**
 * The row fields an expression reads (first path segment) with their offsets.
 * The parser's tree is walked generically: any node `{ kind: 'field', path, index }`.
 */
function referencedFields(parseExpression: ExpressionParser, text: string): Array<{ name: string; index: number }> {
  const result = parseExpression(text);
  if (!result.ok) return [];
  const found: Array<{ name: string; index: number }> = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const record = node as { kind?: unknown; path?: unknown; index?: unknown };
    if (record.kind === 'field' && Array.isArray(record.path) && typeof record.path[0] === 'string') {
      found.push({ name: record.path[0], index: typeof record.index === 'number' ? record.index : 0 });
      return;
    }
    Object.values(node).forEach(visit);
  };
  visit(result.expression);
  return found;
}
