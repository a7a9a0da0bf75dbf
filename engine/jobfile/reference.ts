import { Document, isScalar, visit } from 'yaml';
import { Accumulator } from '../aggregations/aggregation';
import { createAggregation } from '../aggregations/create-aggregation';
import { AGGREGATE_DESCRIPTIONS, AGGREGATE_FUNCTIONS } from '../config/aggregate-call';
import type { JsonSchema } from '../config/component';
import { compileExpression } from '../expressions/compile';
import { FUNCTIONS, FUNCTION_NAMES } from '../expressions/functions';
import { parseExpression } from '../expressions/parse';
import { OPERATOR_GROUPS, SAMPLE_ROW } from '../expressions/syntax';
import { WINDOW_KINDS } from '../operators/window';
import { inline } from './ajv-messages';
import { jobSchema, SINKS, SOURCES, STEPS } from './job-schema';

/**
 * The job-file reference (docs/reference.md) and the editor schema
 * (schemas/job.schema.json), both made from the schema the loader validates
 * with (job-schema.ts, assembled from the component registry), so neither can
 * describe a field the engine does not have. `npm run docs:reference` writes
 * them (scripts/generate-reference.js); test/reference-docs.test.ts fails
 * when the committed files differ from what this module makes.
 */

export const REFERENCE_COMMAND = 'npm run docs:reference';
/** Where the generated files live, relative to the repository root. */
export const REFERENCE_FILE = 'docs/reference.md';
export const EDITOR_SCHEMA_FILE = 'schemas/job.schema.json';

// ------------------------------------------------------------ the schema's parts

const top = jobSchema.properties!;

/** A section of the reference: one source, step, sink, window kind or checkpoint store. */
interface Section {
  anchor: string;
  heading: string;
  schema: JsonSchema;
  /** Its examples as they sit in a job file. */
  examples: unknown[];
  /** Fields shown as links to another section instead of their own rows. */
  links?: Record<string, string>;
}

/** The options of a one-key map (`source: { kafka: ... }`) the loader knows, in registry order. */
function options(selector: JsonSchema, registry: Record<string, unknown>): Array<[string, JsonSchema]> {
  return Object.keys(registry).map((kind) => {
    const schema = selector.properties?.[kind];
    if (schema === undefined) throw new Error(`internal: ${kind} is registered but not in the job schema`);
    return [kind, schema];
  });
}

/** An option's own examples, else those of the one-key map that choose it (checkpoint stores). */
function examplesOf(kind: string, schema: JsonSchema, selector: JsonSchema): unknown[] {
  if (schema.examples !== undefined) return schema.examples;
  return (selector.examples ?? []).filter((example) => example !== null && typeof example === 'object' && kind in example).map((example) => (example as Record<string, unknown>)[kind]);
}

function sourceSections(): Section[] {
  return options(top.source, SOURCES).map(([kind, schema]) => ({
    anchor: `source-${kind}`,
    heading: `\`${kind}\` source`,
    schema,
    examples: examplesOf(kind, schema, top.source).map((example) => ({ source: { [kind]: example } })),
  }));
}

function stepSections(): Section[] {
  const selector = top.steps.items!;
  return options(selector, STEPS).map(([kind, schema]) => ({
    anchor: `step-${kind}`,
    heading: `\`${kind}\` step`,
    schema,
    examples: examplesOf(kind, schema, selector).map((example) => ({ steps: [{ [kind]: example }] })),
    links: kind === 'window' ? Object.fromEntries(WINDOW_KINDS.map((window) => [window, `window-${window.toLowerCase()}`])) : undefined,
  }));
}

/** Each window kind, its example shown inside the window step's own example. */
function windowSections(): Section[] {
  const step = top.steps.items!.properties!.window;
  const base = { ...(step.examples?.[0] as Record<string, unknown>), id: 'levels' };
  return WINDOW_KINDS.map((kind) => {
    const schema = step.properties![kind];
    return {
      anchor: `window-${kind.toLowerCase()}`,
      heading: `\`${kind}\` window`,
      schema,
      examples: (schema.examples ?? []).map((example) => ({ steps: [{ window: withKind(base, kind, example) }] })),
    };
  });
}

/** The window step's example with its window kind replaced, keeping the key order. */
function withKind(step: Record<string, unknown>, kind: string, config: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(step)) {
    if ((WINDOW_KINDS as readonly string[]).includes(key)) result[kind] = config;
    else result[key] = value;
  }
  return result;
}

function sinkSections(): Section[] {
  return options(top.sink, SINKS).map(([kind, schema]) => ({
    anchor: `sink-${kind}`,
    heading: `\`${kind}\` sink`,
    schema,
    examples: examplesOf(kind, schema, top.sink).map((example) => ({ sink: { [kind]: example } })),
  }));
}

function checkpointSections(): Section[] {
  const selector = top.checkpoint;
  return (selector.exactlyOneOf ?? []).map((kind) => {
    const schema = selector.properties![kind];
    return {
      anchor: `checkpoint-${kind}`,
      heading: `\`${kind}\` checkpoint`,
      schema,
      examples: examplesOf(kind, schema, selector).map((example) => ({ checkpoint: { [kind]: example } })),
    };
  });
}

/** Every section with fields and examples, for tests that hold each to its schema. */
export function referenceSections(): Array<{ anchor: string; schema: JsonSchema; examples: unknown[] }> {
  return [...sourceSections(), eventTimeSection(), ...stepSections(), ...windowSections(), ...sinkSections(), ...checkpointSections()];
}

function eventTimeSection(): Section {
  return { anchor: 'eventtime', heading: '`eventTime`', schema: top.eventTime, examples: (top.eventTime.examples ?? []).map((example) => ({ eventTime: example })) };
}

/** A whole job from the top-level fields' first examples. */
export function exampleJob(): Record<string, unknown> {
  const job: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(top)) if (schema.examples !== undefined) job[key] = schema.examples[0];
  return job;
}

// ------------------------------------------------------------ Markdown

/** `text` in a code span. */
function code(text: string): string {
  return `\`${text}\``;
}

/** A table cell: one line, pipes escaped (also inside code spans, as GitHub's tables require). */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

function table(headers: string[], rows: string[][]): string[] {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`)];
}

/** Job-file YAML as people write it: short lists of names in flow style (`key: [station, t]`). */
export function yamlText(value: unknown): string {
  const document = new Document(value);
  visit(document, {
    Seq(_, node) {
      if (node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  return document.toString({ lineWidth: 0, flowCollectionPadding: false });
}

function yamlBlock(value: unknown): string[] {
  return ['```yaml', ...yamlText(value).trimEnd().split('\n'), '```'];
}

function heading(level: number, text: string, anchor: string): string[] {
  return [`<a id="${anchor}"></a>`, '', `${'#'.repeat(level)} ${text}`, ''];
}

/** A value as one line of flow YAML (`{ requests: 2, per: 1s }`). */
function flow(value: unknown): string {
  return value !== null && typeof value === 'object' && Object.keys(value).length === 0 ? (Array.isArray(value) ? '[]' : '{}') : inline(value);
}

/** One line of what a value may be: `duration`, `list of string`, `map of expression`, `` `mean` | `transit` ``; kinds of text the reference explains link there. */
export function typeText(schema: JsonSchema): string {
  if (schema.duration !== undefined) return '[duration](#values)';
  if (schema.timestamp === true) return '[timestamp](#values)';
  if (schema.expression === true) return '[expression](#expressions)';
  if (schema.aggregateCall === true) return '[aggregate call](#aggregate-functions)';
  if (schema.enum !== undefined) return schema.enum.map((value) => code(flow(value))).join(' | ');
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const names = types.map((type) => {
    if (type === 'array') return schema.items === undefined ? 'list' : `list of ${typeText(schema.items)}`;
    if (type === 'object') return objectText(schema);
    return type;
  });
  return names.length > 0 ? names.join(' or ') : 'any';
}

function objectText(schema: JsonSchema): string {
  const properties = Object.keys(schema.properties ?? {});
  const choice = schema.exactlyOneOf;
  if (choice !== undefined && properties.every((key) => choice.includes(key))) return `map with one key: ${choice.map(code).join(', ')}`;
  if (typeof schema.additionalProperties === 'object') return `map of ${typeText(schema.additionalProperties)}`;
  return 'map';
}

/** What the schema allows beyond its type, in words. */
function constraints(schema: JsonSchema): string[] {
  const notes: string[] = [];
  if (schema.duration === 'positive') notes.push('Longer than zero.');
  if (schema.minimum !== undefined && schema.maximum !== undefined) notes.push(`From ${schema.minimum} to ${schema.maximum}.`);
  else if (schema.minimum !== undefined) notes.push(`At least ${schema.minimum}.`);
  else if (schema.maximum !== undefined) notes.push(`At most ${schema.maximum}.`);
  if (schema.exclusiveMinimum !== undefined) notes.push(`More than ${schema.exclusiveMinimum}.`);
  if (schema.minItems !== undefined && schema.minItems > 1) notes.push(`At least ${schema.minItems} items.`);
  if (schema.patternHint !== undefined) notes.push(`Written as ${schema.patternHint}.`);
  if (schema.propertyNames?.patternHint !== undefined) notes.push(`Keys: ${schema.propertyNames.patternHint}.`);
  return notes;
}

const MAX_CELL_EXAMPLE = 60;

/** The rows of a map's fields, nested maps and lists of maps as dotted paths (`format.avro.registry`, `routes[].when`). */
function fieldRows(schema: JsonSchema, links: Record<string, string> = {}, prefix = ''): string[][] {
  const rows: string[][] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    const link = links[path];
    // Examples of a field with a default, of a field documented elsewhere, or too long for a cell stay out of the table.
    const examples = (field.examples ?? []).map(flow);
    const showExamples = examples.length > 0 && field.default === undefined && link === undefined && examples.every((example) => example.length <= MAX_CELL_EXAMPLE);
    const description = [
      field.description ?? '',
      ...constraints(field),
      showExamples ? `E.g. ${examples.map(code).join(', ')}.` : '',
      link === undefined ? '' : `See [${name}](#${link}).`,
    ];
    rows.push([
      code(path),
      typeText(field),
      required.has(name) ? 'yes' : 'no',
      field.default === undefined ? '' : code(flow(field.default)),
      description.filter((part) => part !== '').join(' '),
    ]);
    if (link !== undefined) continue;
    if (field.properties !== undefined && Object.keys(field.properties).length > 0) rows.push(...fieldRows(field, links, `${path}.`));
    const items = field.items;
    if (items?.properties !== undefined && Object.keys(items.properties).length > 0) rows.push(...fieldRows(items, links, `${path}[].`));
  }
  return rows;
}

function fieldTable(schema: JsonSchema, links?: Record<string, string>): string[] {
  const rows = fieldRows(schema, links);
  if (rows.length === 0) return ['No fields.', ''];
  return [...table(['Field', 'Type', 'Required', 'Default', 'Description'], rows), ''];
}

function renderSection(section: Section, level: number): string[] {
  const { schema } = section;
  const lines = heading(level, section.heading, section.anchor);
  if (schema.description !== undefined) lines.push(schema.description, '');
  const choice = schema.exactlyOneOf;
  if (choice !== undefined && section.links !== undefined) {
    lines.push(`Exactly one of ${choice.map((kind) => `[${code(kind)}](#${section.links![kind]})`).join(', ')}.`, '');
  }
  for (const example of section.examples) lines.push(...yamlBlock(example), '');
  if (schema.type === 'array') {
    const count = schema.minItems === undefined ? '' : ` (at least ${schema.minItems})`;
    lines.push(`A list${count}; each item: ${typeText(schema.items ?? {})}.`, '');
  } else {
    lines.push(...fieldTable(schema, section.links));
  }
  return lines;
}

function contentsLine(title: string, anchor: string, sections: Section[] = []): string {
  const parts = sections.map((section) => `[${section.heading.replace(/ (source|step|sink|window|checkpoint)$/, '')}](#${section.anchor})`);
  return `- [${title}](#${anchor})${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`;
}

// ------------------------------------------------------------ aggregates and expressions

/** One window's readings of `v`, the input of the aggregate examples (a null is skipped, as in a window). */
const AGGREGATE_SAMPLE: ReadonlyArray<{ minute: number; v: number | null }> = [
  { minute: 0, v: 0.5 },
  { minute: 6, v: 1.25 },
  { minute: 12, v: null },
  { minute: 18, v: 1.25 },
  { minute: 24, v: 0.25 },
];
const SAMPLE_HOUR = Date.UTC(2020, 8, 24, 4);

/** A result as an expression would write it. */
function valueText(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return `'${value}'`;
  return String(value);
}

function aggregateLines(): string[] {
  const readings = AGGREGATE_SAMPLE.map(({ minute, v }) => `${v === null ? 'null' : v} at ${new Date(SAMPLE_HOUR + minute * 60_000).toISOString().slice(11, 16)}`);
  const rows = AGGREGATE_FUNCTIONS.map((fn) => {
    const accumulator = new Accumulator(createAggregation(fn));
    for (const { minute, v } of AGGREGATE_SAMPLE) if (v !== null) accumulator.add(v, SAMPLE_HOUR + minute * 60_000);
    return [code(`${fn}(field)`), AGGREGATE_DESCRIPTIONS[fn], code(valueText(accumulator.result()))];
  });
  return [
    ...heading(3, 'Aggregate functions', 'aggregate-functions'),
    'A window step\'s `aggregate` maps each output field to `fn(field)`. Every function skips records whose field is null; a window no record contributed to gives no row.',
    '',
    ...yamlBlock({ aggregate: { high: 'max(v)', high_time: 'time_of_max(v)', mean: 'avg(v)', count: 'count(v)' } }),
    '',
    `The last column is the result on one window whose readings of \`v\` are ${readings.join(', ')} (UTC, 2020-09-24).`,
    '',
    ...table(['Function', 'Gives', 'Example result'], rows),
    '',
  ];
}

function evaluate(text: string): string {
  const parsed = parseExpression(text);
  if (!parsed.ok) throw new Error(`internal: the reference example ${JSON.stringify(text)} does not parse: ${parsed.message}`);
  return valueText(compileExpression(parsed.expression)(SAMPLE_ROW));
}

function expressionLines(): string[] {
  const row = Object.entries(SAMPLE_ROW)
    .map(([key, value]) => `${key}: ${key === 't' ? `${value} (${new Date(value as number).toISOString()})` : valueText(value)}`)
    .join(', ');
  const operatorRows = OPERATOR_GROUPS.flatMap((group, index) =>
    group.operators.map((doc, position) => [
      String(index + 1),
      [doc.operator, ...(doc.aliases ?? [])].map(code).join(', '),
      [doc.meaning, position === 0 ? (group.note ?? '') : ''].filter((part) => part !== '').join(' '),
      code(doc.example),
      code(evaluate(doc.example)),
    ]),
  );
  const functionRows = FUNCTION_NAMES.map((name) => {
    const spec = FUNCTIONS[name];
    return [code(spec.signature), spec.description, code(spec.example), code(evaluate(spec.example))];
  });
  return [
    ...heading(2, 'Expressions', 'expressions'),
    'Conditions (`filter`, `route`) and computed fields (`map`) are expressions over the fields of a row. They are parsed and checked by lint, and interpreted: a job file cannot run code.',
    '',
    '- Fields by name (`v`), nested fields by a dotted path (`position.lat`); a missing field reads as `null`.',
    "- Literals: numbers (`1.5`), texts in single or double quotes (`'p'`), `true`, `false`, `null`.",
    '- Timestamps are epoch milliseconds (UTC) and durations milliseconds, so they add, subtract and compare as numbers; window bounds and `time_of_max`/`time_of_min` too.',
    '- An operation on the wrong types, or a result that is not a finite number, gives `null`; it never stops the job. Only `null` and `false` count as false (a reading of 0 is true).',
    '',
    `Results in the tables are for the row { ${row} }.`,
    '',
    ...heading(3, 'Operators', 'expression-operators'),
    'Tightest-binding first; parentheses group as usual.',
    '',
    ...table(['Binds', 'Operator', 'Meaning', 'Example', 'Result'], operatorRows),
    '',
    ...heading(3, 'Functions', 'expression-functions'),
    'No other function can be called. Every function is deterministic (there is no `now()`), so a replay after a crash computes the same rows; a `null` argument gives `null` except for `coalesce`, `is_null`, `min` and `max`.',
    '',
    ...table(['Function', 'Gives', 'Example', 'Result'], functionRows),
    '',
  ];
}

// ------------------------------------------------------------ the reference

const VALUES = [
  '- **Durations**: a number with a unit, `ms`, `s`, `m`, `h` or `d`, parts combined: `500ms`, `30m`, `1h30m`, `24h50m28.329s`. A bare number is refused (seconds or milliseconds?).',
  '- **Timestamps**: ISO-8601 with a zone, `2024-01-01T00:00:00Z` or `2024-01-01T02:00:00+02:00`; a date alone is midnight UTC. A time without a zone is refused.',
  '- **Environment references** in any value: `${VAR}` (must be set) or `${VAR:-default}` (when unset or empty); `$$` writes a `$`. An unquoted value is typed after substitution, so `count: ${N:-10}` is a number. Keep secrets in them: they are never echoed in messages.',
  "- **Paths** (reader schemas, files read and written, a checkpoint directory) are relative to the job file's directory.",
  '- **Station ids** and other codes made of digits are text: quote them (`"8454000"`).',
];

/**
 * docs/reference.md: every field of the job file with its type, whether it is
 * required, its default, its description and an example.
 *
 * @example
 * writeFileSync('docs/reference.md', renderReference());
 */
export function renderReference(): string {
  const sources = sourceSections();
  const steps = stepSections();
  const windows = windowSections();
  const sinks = sinkSections();
  const checkpoints = checkpointSections();
  const topLinks: Record<string, string> = {
    source: 'sources',
    eventTime: 'eventtime',
    steps: 'steps',
    sink: 'sinks',
    sinks: 'sinks',
    deadLetters: 'sinks',
    late: 'sinks',
    checkpoint: 'checkpoint',
  };
  const lines: string[] = [
    `<!-- Generated by \`${REFERENCE_COMMAND}\` (engine/jobfile/reference.ts); do not edit. -->`,
    '',
    '# Job file reference',
    '',
    `*Generated by \`${REFERENCE_COMMAND}\` from the component registry (\`engine/jobfile/components.ts\`) and the schema beside each component; edit those, not this file.*`,
    '',
    `A job file is YAML. \`tideflow lint <job.yaml>\` checks it against the same schema and reports every problem as \`file:line:col message\`. Editors that read JSON Schema (VS Code with the YAML extension, JetBrains IDEs) complete and check job files with [\`${EDITOR_SCHEMA_FILE}\`](../${EDITOR_SCHEMA_FILE}) when the file starts with`,
    '',
    '```yaml',
    `# yaml-language-server: $schema=../${EDITOR_SCHEMA_FILE}`,
    '```',
    '',
    '(the path is relative to the job file, as in `jobs/`).',
    '',
    '## Contents',
    '',
    contentsLine('Job file', 'job-file'),
    contentsLine('Values', 'values'),
    contentsLine('Sources', 'sources', sources),
    contentsLine('eventTime', 'eventtime'),
    contentsLine('Steps', 'steps', steps),
    `  ${contentsLine('Window kinds', 'window-kinds', windows)}`,
    `  ${contentsLine('Aggregate functions', 'aggregate-functions')}`,
    contentsLine('Sinks', 'sinks', sinks),
    contentsLine('Checkpoint', 'checkpoint', checkpoints),
    `${contentsLine('Expressions', 'expressions')}: [operators](#expression-operators), [functions](#expression-functions)`,
    '',
    ...heading(2, 'Job file', 'job-file'),
    jobSchema.description ?? '',
    '',
    ...yamlBlock(exampleJob()),
    '',
    ...fieldTable(jobSchema, topLinks),
    ...heading(2, 'Values', 'values'),
    ...VALUES,
    '',
    ...heading(2, 'Sources', 'sources'),
    top.source.description ?? '',
    '',
    ...sources.flatMap((section) => renderSection(section, 3)),
    ...renderSection({ ...eventTimeSection(), heading: 'eventTime' }, 2),
    ...heading(2, 'Steps', 'steps'),
    top.steps.description ?? '',
    '',
    ...steps.flatMap((section) => renderSection(section, 3)),
    ...heading(3, 'Window kinds', 'window-kinds'),
    'Windows are half-open, `[start, end)`, in event time. A window closes when the watermark passes its end plus `allowedLateness`; a record for a closed window goes to the `late` output.',
    '',
    ...windows.flatMap((section) => renderSection(section, 4)),
    ...aggregateLines(),
    ...heading(2, 'Sinks', 'sinks'),
    [top.sink.description, '`sinks:` names more sinks for `route` steps; `deadLetters:` and `late:` take any sink too.'].join(' '),
    '',
    ...sinks.flatMap((section) => renderSection(section, 3)),
    ...heading(2, 'Checkpoint', 'checkpoint'),
    top.checkpoint.description ?? '',
    '',
    ...checkpoints.flatMap((section) => renderSection(section, 3)),
    ...expressionLines(),
  ];
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

// ------------------------------------------------------------ the editor schema

/** A string holding an environment reference: its value is only known at run time. */
const ENV_REFERENCE = { type: 'string', pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}' } as const;

const DURATION_PART = '(\\d+(\\.\\d+)?|\\.\\d+)(ms|s|m|h|d)';
/** What config/duration.ts accepts (surrounding spaces are trimmed before it reads). */
export const DURATION_PATTERN = `^\\s*(${DURATION_PART})+\\s*$`;
/** The same, with some digit that is not zero: longer than zero. */
export const POSITIVE_DURATION_PATTERN = `^(?=[^1-9]*[1-9])\\s*(${DURATION_PART})+\\s*$`;
/** config/timestamp.ts' form with its zone required when a time is given; calendar checks are left to lint. */
export const TIMESTAMP_PATTERN = '^\\s*\\d{4}-\\d{2}-\\d{2}([Tt ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?([Zz]|[+-]\\d{2}:?\\d{2}))?\\s*$';
/** `fn(field)` with a known aggregate function, as config/aggregate-call.ts reads it. */
export const AGGREGATE_CALL_PATTERN = `^\\s*(${AGGREGATE_FUNCTIONS.join('|')})\\s*\\(\\s*[A-Za-z_][A-Za-z0-9_]*\\s*\\)\\s*$`;

/** Keywords only tideflow's validator knows: each becomes standard JSON Schema or goes. */
const TIDEFLOW_KEYWORDS = new Set(['duration', 'timestamp', 'expression', 'aggregateCall', 'exactlyOneOf', 'selector', 'patternHint', 'requiredWhy']);
/** Annotations an editor shows; they stay where the value is described. */
const ANNOTATIONS = ['title', 'description', 'default', 'examples'] as const;

type EditorSchema = Record<string, unknown>;

/**
 * schemas/job.schema.json: the job schema in plain JSON Schema (draft-07)
 * for editors. tideflow's own keywords become standard ones (durations,
 * timestamps and aggregate calls as patterns, "exactly one kind" as
 * `oneOf`/`maxProperties`); a value the schema constrains also accepts an
 * environment reference, whose value only the run knows; `key:` with nothing
 * after it is accepted where an empty map is (as the loader reads it).
 * Expressions are only checked to be text: `tideflow lint` parses them.
 *
 * @example
 * writeFileSync('schemas/job.schema.json', JSON.stringify(editorSchema(), null, 2) + '\n');
 */
export function editorSchema(): EditorSchema {
  const converter = new EditorSchemaConverter(jobSchema);
  const root = converter.convert(jobSchema);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: `Generated by \`${REFERENCE_COMMAND}\` from engine/jobfile/job-schema.ts; see ${REFERENCE_FILE}.`,
    ...root,
    definitions: converter.definitions,
  };
}

/** The schemas under `schema`, each once, in document order. */
function children(schema: JsonSchema): JsonSchema[] {
  const found = Object.values(schema.properties ?? {});
  if (schema.items !== undefined) found.push(schema.items);
  if (typeof schema.additionalProperties === 'object') found.push(schema.additionalProperties);
  if (schema.propertyNames !== undefined) found.push(schema.propertyNames);
  return found;
}

/**
 * Converts tideflow's schema to the editor's. A titled part the job schema
 * has in several places (every sink is allowed as `sink`, under `sinks`,
 * `deadLetters`, `late` and in each `all` list) is written once, under
 * `definitions`, and referenced: the file stays a fraction of the size.
 */
class EditorSchemaConverter {
  readonly definitions: Record<string, EditorSchema> = {};
  /** The definition name of each titled part met more than once, by its text. */
  private readonly shared = new Map<string, string>();

  constructor(root: JsonSchema) {
    const uses = new Map<string, { schema: JsonSchema; times: number }>();
    const count = (schema: JsonSchema): void => {
      const key = JSON.stringify(schema);
      const use = uses.get(key);
      if (use !== undefined) {
        use.times++;
        return;
      }
      uses.set(key, { schema, times: 1 });
      children(schema).forEach(count);
    };
    count(root);
    const names = new Set<string>();
    for (const [key, { schema, times }] of uses) {
      if (times < 2 || schema.title === undefined) continue;
      const base = schema.title.replace(/[^A-Za-z0-9]+/g, '-');
      let name = base;
      for (let n = 2; names.has(name); n++) name = `${base}-${n}`;
      names.add(name);
      this.shared.set(key, name);
    }
  }

  /** The editor's form of `schema`: a reference where it is shared. */
  convert(schema: JsonSchema): EditorSchema {
    const name = this.shared.get(JSON.stringify(schema));
    if (name === undefined) return this.convertHere(schema);
    if (!(name in this.definitions)) {
      this.definitions[name] = {};
      this.definitions[name] = this.convertHere(schema);
    }
    return { $ref: `#/definitions/${name}` };
  }

  private convertHere(schema: JsonSchema): EditorSchema {
    const out: EditorSchema = {};
    for (const [key, value] of Object.entries(schema)) {
      if (TIDEFLOW_KEYWORDS.has(key)) continue;
      if (key === 'properties') out.properties = Object.fromEntries(Object.entries(value as Record<string, JsonSchema>).map(([field, child]) => [field, this.convert(child)]));
      else if (key === 'items' || key === 'propertyNames' || (key === 'additionalProperties' && typeof value === 'object')) out[key] = this.convert(value as JsonSchema);
      else out[key] = value;
    }
    if (schema.duration !== undefined) Object.assign(out, { type: 'string', pattern: schema.duration === 'positive' ? POSITIVE_DURATION_PATTERN : DURATION_PATTERN });
    if (schema.timestamp === true) out.pattern = TIMESTAMP_PATTERN;
    if (schema.aggregateCall === true) out.pattern = AGGREGATE_CALL_PATTERN;
    const choice = schema.exactlyOneOf;
    if (choice !== undefined) {
      const onlyChoices = schema.additionalProperties === false && Object.keys(schema.properties ?? {}).every((key) => choice.includes(key));
      if (onlyChoices) Object.assign(out, { minProperties: 1, maxProperties: 1 });
      else out.oneOf = choice.map((key) => ({ required: [key] }));
    }
    // The loader reads `console:` (nothing after it) as an empty map.
    if (schema.type === 'object' && emptyMapAllowed(schema)) out.type = ['object', 'null'];
    return refusesEnvReference(out) ? acceptingEnvReference(out) : out;
  }
}

function emptyMapAllowed(schema: JsonSchema): boolean {
  return (schema.required ?? []).length === 0 && schema.exactlyOneOf === undefined && (schema.minProperties ?? 0) === 0;
}

/** Whether a text like `${PORT:-9042}`, in place of a value this schema describes, would fail it. */
function refusesEnvReference(schema: EditorSchema): boolean {
  const types = schema.type === undefined ? [] : ([] as unknown[]).concat(schema.type);
  if (types.includes('string')) return schema.enum !== undefined || schema.pattern !== undefined;
  // A reference stands for a scalar only (the loader types it after substitution), never a map or a list.
  return types.length > 0 && !types.includes('object') && !types.includes('array');
}

/** `{ anyOf: [the value's schema, an environment reference] }`, its annotations outside so editors still show them. */
function acceptingEnvReference(schema: EditorSchema): EditorSchema {
  const outer: EditorSchema = {};
  const inner: EditorSchema = { ...schema };
  for (const key of ANNOTATIONS) {
    if (key in inner) {
      outer[key] = inner[key];
      delete inner[key];
    }
  }
  outer.anyOf = [inner, ENV_REFERENCE];
  return outer;
}

/**
 * Both generated files' text, by path from the repository root: what
 * `npm run docs:reference` writes and what the staleness test compares.
 *
 * @example
 * for (const [file, text] of Object.entries(referenceFiles())) writeFileSync(join(root, file), text);
 */
export function referenceFiles(): Record<string, string> {
  return {
    [REFERENCE_FILE]: renderReference(),
    [EDITOR_SCHEMA_FILE]: `${JSON.stringify(editorSchema(), null, 2)}\n`,
  };
}
