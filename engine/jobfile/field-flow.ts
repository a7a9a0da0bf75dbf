import { parseAggregateCall } from '../config/aggregate-call';
import { readAvscFields, readContainerFields } from './avro-fields';
import { didYouMean } from '../config/did-you-mean';
import type { ExpressionParser } from './expression-parser';
import type { Expression } from '../expressions/ast';
import { checkExpressionTypes, type ValueType } from '../expressions/types';
import type { ProblemCollector } from '../config/problems';
import { childPointer } from '../config/yaml-tree';
import { formatImpliedBy } from '../sources/file-source';
import { WINDOW_BOUND_FIELDS } from '../operators/window';

/**
 * Follows the set of row fields from the source through every step, so that
 * a misspelt field in a key, an aggregate or a primary key is caught before a
 * run instead of silently grouping everything under `undefined`.
 *
 * The source's fields are known from an Avro schema (Kafka reader schema, or
 * the header of an Avro data file) or the generator's record shape; when they
 * are not known, checks start at the first window, whose output is known.
 */

/** The records the generator source produces (the tide observation schema, schemas/tide_observation.avsc), and what each holds. */
const GENERATOR_TYPES: Record<string, ValueType> = { station: 'string', name: 'string', lat: 'number', lon: 'number', t: 'timestamp', v: 'number', s: 'number', f: 'string', q: 'string' };
const GENERATOR_FIELDS = Object.keys(GENERATOR_TYPES);

type Json = Record<string, unknown>;

class Fields {
  constructor(
    readonly names: Set<string> | undefined,
    readonly origin: string,
    /** What fields hold, where known (the event-time field always: a timestamp). */
    readonly types: ReadonlyMap<string, ValueType> = new Map(),
  ) {}

  typeOf(name: string): ValueType {
    return this.types.get(name) ?? 'unknown';
  }

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
  // Whatever the source writes (Avro timestamp-millis, ISO text, epoch numbers), rows hold event time as epoch ms.
  if (isMap(eventTime) && typeof eventTime.field === 'string') {
    fields = new Fields(fields.names, fields.origin, new Map([...fields.types, [eventTime.field, 'timestamp']]));
  }

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
    const here = fields.names === undefined ? fields : new Fields(fields.names, 'the rows reaching this step', fields.types);
    const requireAll = (list: unknown, name: string) => {
      if (Array.isArray(list)) list.forEach((field, i) => here.require(collector, childPointer(childPointer(base, name), i), field));
    };
    const requireReferenced = (pointer: string, text: unknown) => {
      if (typeof text !== 'string') return;
      for (const reference of referencedFields(parseExpression, text)) here.require(collector, pointer, reference.name, { index: reference.index });
      typeOfExpression(parseExpression, text, here, collector, pointer);
    };
    switch (kind) {
      case 'filter':
        requireReferenced(childPointer(base, 'when'), step.when);
        return;
      case 'map': {
        const setTypes = new Map<string, ValueType>();
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
            setTypes.set(name, typeOfExpression(parseExpression, text, here, collector, pointer));
          }
        }
        requireAll(step.drop, 'drop');
        const nextTypes = new Map([...fields.types, ...setTypes]);
        if (Array.isArray(step.drop)) for (const name of step.drop) if (typeof name === 'string') nextTypes.delete(name);
        if (fields.names !== undefined) {
          const next = new Set(fields.names);
          if (isMap(step.set)) for (const name of Object.keys(step.set)) next.add(name);
          if (Array.isArray(step.drop)) for (const name of step.drop) if (typeof name === 'string') next.delete(name);
          fields = new Fields(next, 'the rows reaching this step', nextTypes);
        } else {
          fields = new Fields(undefined, fields.origin, nextTypes);
        }
        return;
      }
      case 'dedupe':
        requireAll(step.key, 'key');
        return;
      case 'repartition':
        requireAll(step.by, 'by');
        return;
      case 'window': {
        requireAll(step.key, 'key');
        const output = new Set<string>(Array.isArray(step.key) ? step.key.filter((k): k is string => typeof k === 'string') : []);
        const outputTypes = new Map<string, ValueType>([...output].map((key) => [key, here.typeOf(key)]));
        for (const bound of WINDOW_BOUND_FIELDS) {
          output.add(bound);
          outputTypes.set(bound, 'timestamp');
        }
        if (isMap(step.aggregate)) {
          for (const [name, call] of Object.entries(step.aggregate)) {
            output.add(name);
            if (typeof call !== 'string') continue;
            const parsed = parseAggregateCall(call);
            if (!parsed.ok) continue;
            here.require(collector, childPointer(childPointer(base, 'aggregate'), name), parsed.field, { index: call.indexOf(parsed.field, call.indexOf('(')) });
            outputTypes.set(name, aggregateType(parsed.fn, here.typeOf(parsed.field)));
          }
        }
        fields = new Fields(output, `the rows of window step '${String(step.id)}'`, outputTypes);
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
  if (isMap(source.generator)) return new Fields(new Set(GENERATOR_FIELDS), "the generator's records", new Map(Object.entries(GENERATOR_TYPES)));
  const kafka = source.kafka;
  if (isMap(kafka) && isMap(kafka.format) && isMap(kafka.format.avro) && typeof kafka.format.avro.readerSchema === 'string') {
    const path = kafka.format.avro.readerSchema;
    const result = readAvscFields(path, jobDir, cwd);
    if (!result.ok) {
      collector.atValue('/source/kafka/format/avro/readerSchema', result.message);
      return new Fields(undefined, '');
    }
    return new Fields(new Set(result.record.fields), `${result.record.name} records`, new Map(Object.entries(result.record.types)));
  }
  const file = source.file;
  if (isMap(file) && typeof file.path === 'string') {
    const format = typeof file.format === 'string' ? file.format : formatImpliedBy(file.path);
    if (format === 'avro') {
      const record = readContainerFields(file.path, jobDir);
      if (record !== undefined) return new Fields(new Set(record.fields), `${record.name} records`, new Map(Object.entries(record.types)));
    }
  }
  return new Fields(undefined, '');
}

function checkCassandraColumns(sink: unknown, pointer: string, fields: Fields, collector: ProblemCollector): void {
  // Each sink of an `all` list receives the same rows.
  if (isMap(sink) && Array.isArray(sink.all)) {
    sink.all.forEach((each, index) => checkCassandraColumns(each, childPointer(childPointer(pointer, 'all'), index), fields, collector));
    return;
  }
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

/** What a window's aggregate gives: event times for time_of_max/min, the field's own kind for first/last, else numbers. */
function aggregateType(fn: string, fieldType: ValueType): ValueType {
  if (fn === 'time_of_max' || fn === 'time_of_min') return 'timestamp';
  if (fn === 'first' || fn === 'last') return fieldType;
  return 'number';
}

/**
 * The type of an expression's value, reporting its type mistakes (a timestamp
 * compared with text...) at their characters. Only the engine's own parser
 * gives a tree to type (tests may validate with a stand-in parser).
 */
function typeOfExpression(parseExpression: ExpressionParser, text: string, fields: Fields, collector: ProblemCollector, pointer: string): ValueType {
  const result = parseExpression(text);
  if (!result.ok || !isExpressionTree(result.expression)) return 'unknown';
  const { type, problems } = checkExpressionTypes(result.expression, (name) => fields.typeOf(name));
  for (const problem of problems) collector.atOffset(pointer, problem.index, problem.message);
  return type;
}

function isExpressionTree(value: unknown): value is Expression {
  return isMap(value) && typeof value.kind === 'string' && typeof value.index === 'number';
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
