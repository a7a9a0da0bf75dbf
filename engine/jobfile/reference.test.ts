import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import fc from 'fast-check';
import { parseAggregateCall } from '../config/aggregate-call';
import type { JsonSchema } from '../config/component';
import { parseDuration } from '../config/duration';
import { substituteEnv } from '../config/env';
import { parseTimestamp } from '../config/timestamp';
import { FUNCTION_NAMES } from '../expressions/functions';
import { OPERATOR_GROUPS } from '../expressions/syntax';
import { AGGREGATE_FUNCTIONS } from '../config/aggregate-call';
import { engineExpressionParser } from './expression-parser';
import { jobSchema, SINKS, SOURCES, STEPS } from './job-schema';
import { createAjv } from './keywords';
import { loadJobText } from './load';
import {
  AGGREGATE_CALL_PATTERN,
  DURATION_PATTERN,
  editorSchema,
  exampleJob,
  POSITIVE_DURATION_PATTERN,
  referenceSections,
  renderReference,
  TIMESTAMP_PATTERN,
  yamlText,
} from './reference';

const ROOT = join(__dirname, '..', '..', '..');

/** Every schema node with where it is, depth first. */
function nodes(schema: JsonSchema, path = '$'): Array<{ path: string; schema: JsonSchema }> {
  const found = [{ path, schema }];
  for (const [name, child] of Object.entries(schema.properties ?? {})) found.push(...nodes(child, `${path}.${name}`));
  if (schema.items !== undefined) found.push(...nodes(schema.items, `${path}[]`));
  if (typeof schema.additionalProperties === 'object') found.push(...nodes(schema.additionalProperties, `${path}.*`));
  return found;
}

/** An example as the loader would see it: `${VAR:-default}` as its default, `${SECRET}` as some text. */
function substituted(value: unknown): unknown {
  if (typeof value === 'string') {
    const result = substituteEnv(value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, 'placeholder'), {});
    assert.ok(result.ok, `example ${value} has a broken environment reference`);
    return result.value;
  }
  if (Array.isArray(value)) return value.map(substituted);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substituted(item)]));
  return value;
}

const ajv = createAjv(engineExpressionParser);

test('every example in the job schema is valid where it is given', () => {
  let checked = 0;
  for (const { path, schema } of nodes(jobSchema)) {
    if (schema.examples === undefined) continue;
    const validate = ajv.compile(schema);
    for (const example of schema.examples) {
      assert.ok(validate(substituted(example)), `example ${JSON.stringify(example)} at ${path}: ${ajv.errorsText(validate.errors)}`);
      checked++;
    }
  }
  assert.ok(checked > 100, `only ${checked} examples checked`);
});

test('every example the reference shows is valid in a job file', () => {
  const anyPart = ajv.compile({ ...jobSchema, required: [] });
  for (const section of referenceSections()) {
    assert.ok(section.examples.length > 0, `${section.anchor} has no example`);
    for (const example of section.examples) {
      assert.ok(anyPart(substituted(example)), `${section.anchor}: ${JSON.stringify(example)}: ${ajv.errorsText(anyPart.errors)}`);
    }
  }
});

test('the reference example job loads as a job', () => {
  // Written as if in jobs/, so its relative paths find the bundled data.
  const spec = loadJobText(join(ROOT, 'jobs', 'reference-example.yaml'), yamlText(exampleJob()), { env: {}, cwd: ROOT });
  assert.deepEqual(
    spec.steps.map((step) => step.kind),
    ['dedupe', 'window'],
  );
});

test('every field of the job schema has a description', () => {
  const missing = nodes(jobSchema)
    .flatMap(({ path, schema }) => Object.entries(schema.properties ?? {}).map(([name, child]) => ({ path: `${path}.${name}`, child })))
    .filter(({ child }) => child.description === undefined)
    .map(({ path }) => path);
  assert.deepEqual([...new Set(missing)], []);
});

test('the reference has a section for every source, step, sink, window kind, aggregate, function and operator', () => {
  const text = renderReference();
  assert.equal(renderReference(), text, 'the same text every time');
  for (const kind of Object.keys(SOURCES)) assert.match(text, new RegExp(`^### \`${kind}\` source$`, 'm'));
  for (const kind of Object.keys(STEPS)) assert.match(text, new RegExp(`^### \`${kind}\` step$`, 'm'));
  for (const kind of Object.keys(SINKS)) assert.match(text, new RegExp(`^### \`${kind}\` sink$`, 'm'));
  for (const kind of ['tumbling', 'hopping', 'session', 'lunarDay']) assert.match(text, new RegExp(`^#### \`${kind}\` window$`, 'm'));
  for (const kind of ['file', 'cassandra', 'none']) assert.match(text, new RegExp(`^### \`${kind}\` checkpoint$`, 'm'));
  for (const fn of AGGREGATE_FUNCTIONS) assert.ok(text.includes(`| \`${fn}(field)\` |`), fn);
  for (const name of FUNCTION_NAMES) assert.match(text, new RegExp(`^\\| \`${name}\\(`, 'm'), name);
  for (const doc of OPERATOR_GROUPS.flatMap((group) => group.operators)) assert.ok(text.includes(`\`${doc.operator.replace(/\|/g, '\\|')}\``), doc.operator);
  // Every link goes to an anchor of the page.
  const anchors = new Set([...text.matchAll(/<a id="([^"]+)"><\/a>/g)].map((match) => match[1]));
  for (const [, target] of text.matchAll(/\]\(#([^)]+)\)/g)) assert.ok(anchors.has(target), `link to #${target}`);
});

test('the reference shows the registry examples: a field table row and an example block', () => {
  const text = renderReference();
  assert.ok(text.includes('| `horizon` | [duration](#values) | yes |  | How long (event time) a key is remembered. Longer than zero. E.g. `2h`. |'));
  assert.ok(text.includes('| `startFrom` | `earliest` \\| `latest` | no | `earliest` |'));
  assert.ok(text.includes(['```yaml', 'steps:', '  - dedupe:', '      id: dedupe-observations', '      key: [station, t]', '      horizon: 2h', '```'].join('\n')));
});

// ------------------------------------------------------------ the editor schema

const editor = new Ajv({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
const validateEditor = editor.compile(editorSchema());

const minimal = (): Record<string, unknown> => ({
  job: 'minimal',
  source: { generator: { stations: ['8454000'], start: '2024-01-01T00:00:00Z', count: 10 } },
  eventTime: { field: 't' },
  steps: [{ dedupe: { id: 'dedupe', key: ['station', 't'], horizon: '2h' } }],
  sink: { console: null },
});

test('the editor schema is plain JSON Schema and accepts what the loader accepts', () => {
  assert.equal(validateEditor(minimal()), true, editor.errorsText(validateEditor.errors));
  const job = minimal();
  // Environment references stand for numbers, booleans and constrained text alike.
  job.source = { generator: { stations: ['8454000'], start: '${START:-2024-01-01T00:00:00Z}', count: '${COUNT:-10}', interval: '${INTERVAL:-6m}' } };
  job.steps = [{ window: { id: 'w', key: [], tumbling: { size: '30m' }, emit: '${EMIT:-final}', aggregate: { n: 'count(v)' } } }];
  job.checkpoint = { none: null };
  assert.equal(validateEditor(job), true, editor.errorsText(validateEditor.errors));
  // The loader agrees: it substitutes the references and types plain values (`count: ${COUNT:-10}` is a number).
  const spec = loadJobText(join(ROOT, 'jobs', 'editor-example.yaml'), yamlText(job), { env: {}, cwd: ROOT });
  assert.equal(spec.source.kind === 'generator' && spec.source.generator.count, 10);
});

test('the editor schema refuses unknown keys, two kinds at once, a missing kind and bad values', () => {
  const refused = (edit: (job: Record<string, unknown>) => void, what: string) => {
    const job = minimal();
    edit(job);
    assert.equal(validateEditor(job), false, what);
  };
  refused((job) => ((job.eventTime as Record<string, unknown>).maxOutOfOrdr = '30m'), 'typo in a key');
  refused((job) => (job.sink = { console: null, jsonl: { path: 'x.jsonl' } }), 'two sinks');
  refused((job) => (job.sink = {}), 'no sink kind');
  refused((job) => (job.source = null), 'an empty source');
  refused((job) => (job.steps = [{ window: { id: 'w', key: [], tumbling: { size: '1h' }, session: { gap: '1h' }, aggregate: { n: 'count(v)' } } }]), 'two window kinds');
  refused((job) => (job.steps = [{ window: { id: 'w', key: [], aggregate: { n: 'count(v)' } } }]), 'no window kind');
  refused((job) => (job.steps = [{ window: { id: 'w', key: [], tumbling: { size: '0s' }, aggregate: { n: 'count(v)' } } }]), 'a zero window size');
  refused((job) => (job.steps = [{ window: { id: 'w', key: [], tumbling: { size: '30m' }, aggregate: { n: 'mean(v)' } } }]), 'an unknown aggregate');
  refused((job) => ((job.eventTime as Record<string, unknown>).maxOutOfOrder = 30), 'a duration without unit');
  refused((job) => ((job.source as { generator: Record<string, unknown> }).generator.start = '2024-01-01T00:00:00'), 'a timestamp without zone');
});

// The editor must never flag what the loader accepts; where the loader is stricter, lint tells.
const durationLike = fc.array(fc.constantFrom('0', '1', '5', '.', 'ms', 's', 'm', 'h', 'd', ' ', 'x', '-'), { maxLength: 8 }).map((parts) => parts.join(''));

test('editor duration patterns accept exactly the durations the loader reads', () => {
  const any = new RegExp(DURATION_PATTERN, 'u');
  const positive = new RegExp(POSITIVE_DURATION_PATTERN, 'u');
  fc.assert(
    fc.property(durationLike, (text) => {
      const ms = parseDuration(text.trim());
      assert.equal(any.test(text), ms !== null, text);
      assert.equal(positive.test(text), ms !== null && ms > 0, text);
    }),
    { numRuns: 2000 },
  );
  for (const text of ['24h50m28.329s', '1h30m', '500ms', '.5s']) assert.ok(positive.test(text), text);
});

test('the editor timestamp pattern accepts every timestamp the loader reads and none without a zone', () => {
  const pattern = new RegExp(TIMESTAMP_PATTERN, 'u');
  const timestampLike = fc
    .tuple(fc.date({ min: new Date(Date.UTC(1900, 0, 1)), max: new Date(Date.UTC(2200, 0, 1)), noInvalidDate: true }), fc.constantFrom('Z', 'z', '+02:00', '-0530', '', ' '), fc.nat(4))
    .map(([date, zone, cut]) => {
      const iso = date.toISOString().slice(0, [10, 16, 19, 23, 23][cut]);
      return iso.length === 10 ? iso : `${iso}${zone}`;
    });
  fc.assert(
    fc.property(timestampLike, (text) => {
      const parsed = parseTimestamp(text);
      if (parsed.ok) assert.ok(pattern.test(text), text);
      if (!parsed.ok && parsed.reason === 'no-timezone') assert.ok(!pattern.test(text), text);
    }),
    { numRuns: 2000 },
  );
});

test('the editor aggregate pattern accepts exactly the calls the loader reads', () => {
  const pattern = new RegExp(AGGREGATE_CALL_PATTERN, 'u');
  const callLike = fc
    .tuple(fc.constantFrom(...AGGREGATE_FUNCTIONS, 'mean', 'maxx', ''), fc.constantFrom('(', ' (', ''), fc.constantFrom('v', ' v ', '1v', 'a b', ''), fc.constantFrom(')', ') ', ''))
    .map((parts) => parts.join(''));
  fc.assert(
    fc.property(callLike, (text) => {
      assert.equal(pattern.test(text), parseAggregateCall(text).ok, text);
    }),
  );
});
