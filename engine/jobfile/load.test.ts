import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, formatProblem } from '../core/errors';
import type { ExpressionParser } from './expression-parser';
import { loadJobFile, loadJobText, lintJobFiles } from './load';

// A stand-in expression language, so these tests pin the loader, not the parser:
// anything containing '!!' is an error at that offset.
const fakeParser: ExpressionParser = (text) => {
  const index = text.indexOf('!!');
  return index < 0 ? { ok: true, expression: null } : { ok: false, message: "'!!' is not an operator", index };
};

const base = `job: demo
source:
  file: { path: data/tides.jsonl }
eventTime: { field: t }
`;

/** Where the test's job file 'job.yaml' lives: paths in it start here (nothing is read from it). */
const PROJECT = join(tmpdir(), 'tideflow-load-test-project');

function load(text: string, env: NodeJS.ProcessEnv = {}) {
  return loadJobText('job.yaml', text, { env, parseExpression: fakeParser, cwd: PROJECT });
}

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    load(text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map(formatProblem);
  }
  assert.fail('expected a ConfigError');
}

test('defaults fill in: ids, windows, eventTime, checkpoint, file format', () => {
  const spec = load(`${base}steps:
  - filter: { when: "v > 0" }
  - window:
      id: w
      key: [station]
      tumbling: { size: 30m }
      aggregate: { n: count(v) }
sink:
  console:
`);
  assert.deepEqual(spec.eventTime, { field: 't', maxOutOfOrderMs: 0, idleTimeoutMs: 60_000, maxDriftMs: 3_600_000 });
  assert.deepEqual(spec.source, { kind: 'file', file: { path: join(PROJECT, 'data/tides.jsonl'), batchSize: 4096 } });
  assert.deepEqual(spec.steps[0], { kind: 'filter', id: 'filter-1', when: 'v > 0', at: { line: 6, col: 5 } });
  assert.deepEqual(spec.steps[1], {
    kind: 'window',
    id: 'w',
    key: ['station'],
    window: { kind: 'tumbling', sizeMs: 1_800_000, anchorMs: 0 },
    allowedLatenessMs: 0,
    emit: 'final',
    aggregates: [{ name: 'n', fn: 'count', field: 'v' }],
    at: { line: 7, col: 5 },
  });
  assert.deepEqual(spec.sink, { kind: 'console', console: { format: 'table' } });
  assert.deepEqual(spec.sinks, {});
  assert.deepEqual(spec.checkpoint, { kind: 'file', dir: '.tideflow/checkpoints', intervalMs: 5000 });
});

test('env references resolve before validation, and unquoted results are typed like YAML', () => {
  const spec = loadJobText(
    'job.yaml',
    `job: demo
source:
  kafka:
    brokers: \${BROKERS}
    topic: t
    stopAtEnd: \${STOP:-false}
    format:
      avro:
        registry: \${REGISTRY:-http://localhost:8081}
        readerSchema: \${SCHEMA}
eventTime: { field: t }
steps: []
sink:
  null:
`,
    { env: { BROKERS: 'a:9092, b:9092', STOP: 'true', SCHEMA: 'schemas/tide_observation.avsc' }, cwd: join(__dirname, '..', '..', '..') },
  );
  assert.equal(spec.source.kind, 'kafka');
  if (spec.source.kind !== 'kafka') return;
  assert.deepEqual(spec.source.kafka.brokers, ['a:9092', 'b:9092']);
  assert.equal(spec.source.kafka.stopAtEnd, true);
  assert.equal(spec.source.kafka.group, 'tideflow-demo');
  assert.equal(spec.source.kafka.format.registryUrl, 'http://localhost:8081');
  assert.deepEqual(spec.sink, { kind: 'null' });
});

test('a substituted value is type-checked after substitution', () => {
  const generated = `job: demo
source:
  generator:
    stations: ["1"]
    start: 2024-01-01T00:00:00Z
    count: \${COUNT:-ten}
eventTime: { field: t }
steps: []
sink: { console: {} }
`;
  assert.deepEqual(problems(generated), ['job.yaml:6:12 \'count\' must be an integer, got string "ten"']);
  const spec = load(generated, { COUNT: '25' });
  assert.equal(spec.source.kind === 'generator' && spec.source.generator.count, 25);
});

test('every problem is reported at once, sorted by position', () => {
  const found = problems(`job: demo
source:
  file: { path: data/tides.jsonl, batchSize: 0 }
eventTime: { field: t, maxOutOfOrder: 10 }
steps:
  - dedupe: { key: [station] }
sink:
  jsonl: { pth: out.jsonl }
`);
  assert.deepEqual(found, [
    "job.yaml:3:46 'batchSize' must be at least 1, got number 0",
    "job.yaml:4:39 'maxOutOfOrder' is not a duration: 10 (add a unit, e.g. 10s)",
    "job.yaml:6:5 dedupe step 1 is missing 'id' (stateful steps need a stable id: it names their state in checkpoints)",
    "job.yaml:6:5 dedupe step 1 is missing 'horizon', e.g. horizon: 2h",
    // No "missing 'path'" on top: the did-you-mean already says what to fix.
    "job.yaml:8:12 unknown field 'pth' in jsonl sink (did you mean 'path'?)",
  ]);
});

test('expression errors point at the offending character inside plain, quoted and escaped scalars', () => {
  const found = problems(`${base}steps:
  - filter: { when: v !! 1 }
  - filter: { when: "a \\"b\\" !! 1" }
  - filter: { when: 'it''s !! 1' }
  - filter:
      when: >-
        v > 1 and
        w !! 2
sink: { console: {} }
`);
  assert.deepEqual(found, [
    "job.yaml:6:23 'when' is not a valid expression: '!!' is not an operator",
    "job.yaml:7:30 'when' is not a valid expression: '!!' is not an operator",
    "job.yaml:8:28 'when' is not a valid expression: '!!' is not an operator",
    "job.yaml:12:11 'when' is not a valid expression: '!!' is not an operator",
  ]);
});

test('the unset env variable is reported where it is written, and nothing else about that value', () => {
  assert.deepEqual(problems(`${base}steps: []
sink:
  jsonl: { path: "out/\${RUN_ID}.jsonl" }
`), ['job.yaml:7:23 environment variable RUN_ID is not set; set it or write ${RUN_ID:-default}']);
});

test('named sinks, routes and route-step defaults', () => {
  const spec = load(`${base}steps:
  - route:
      routes: [ { when: "v > 3", to: alerts } ]
sinks:
  alerts: { jsonl: { path: out/alerts.jsonl } }
sink: { console: { format: jsonl } }
late: { null: {} }
deadLetters: { jsonl: { path: out/dead.jsonl } }
checkpoint: { none: }
`);
  assert.deepEqual(spec.steps[0], { kind: 'route', id: 'route-1', routes: [{ when: 'v > 3', to: 'alerts' }], otherwise: 'main', at: { line: 6, col: 5 } });
  assert.deepEqual(spec.sinks, { alerts: { kind: 'jsonl', jsonl: { path: join(PROJECT, 'out/alerts.jsonl') } } });
  assert.deepEqual(spec.late, { kind: 'null' });
  assert.deepEqual(spec.deadLetters, { kind: 'jsonl', jsonl: { path: join(PROJECT, 'out/dead.jsonl') } });
  assert.deepEqual(spec.checkpoint, { kind: 'none' });
});

test('generator, hopping, session and lunar transit windows normalise', () => {
  const spec = load(`job: gen
source:
  generator: { stations: ["8454000"], start: 2024-01-01T00:00:00Z, count: 10, interval: 6m, disorder: 5m, duplicateRate: 0.05 }
eventTime: { field: t, maxOutOfOrder: 10m }
steps:
  - window: { id: h, key: [station], hopping: { size: 1h, slide: 15m, anchor: 2024-01-01T00:00:00Z }, aggregate: { m: avg(v) } }
  - window: { id: s, key: [station], session: { gap: 2h }, emit: update, allowedLateness: 1m, aggregate: { m: max(m) } }
  - window: { id: l, key: [station], lunarDay: { mode: transit }, aggregate: { m: max(m) } }
sink:
  cassandra:
    contactPoints: "a:9042,b:9042"
    keyspace: tides
    table: x
    primaryKey: { partition: [station], clustering: [window_start] }
`);
  assert.deepEqual(spec.source, {
    kind: 'generator',
    generator: {
      stations: ['8454000'],
      startMs: Date.UTC(2024, 0, 1),
      count: 10,
      intervalMs: 360_000,
      duplicateRate: 0.05,
      disorderMs: 300_000,
      lateRate: 0,
      nullRate: 0,
      seed: 42,
      batchSize: 4096,
    },
  });
  const windows = spec.steps.map((step) => (step.kind === 'window' ? step.window : undefined));
  assert.deepEqual(windows, [
    { kind: 'hopping', sizeMs: 3_600_000, slideMs: 900_000, anchorMs: Date.UTC(2024, 0, 1) },
    { kind: 'session', gapMs: 7_200_000 },
    { kind: 'lunarDay', mode: 'transit', lonField: 'lon', latField: 'lat' },
  ]);
  assert.deepEqual(spec.checkpoint, { kind: 'cassandra', keyspace: 'tides', table: 'tideflow_checkpoints', intervalMs: 5000 });
  if (spec.sink.kind === 'cassandra') assert.deepEqual(spec.sink.cassandra.contactPoints, ['a:9042', 'b:9042']);
});

test('loadJobFile: a missing file and broken YAML are ConfigErrors too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-config-'));
  assert.throws(() => loadJobFile(join(dir, 'absent.yaml')), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems, [{ file: join(dir, 'absent.yaml'), line: 1, col: 1, message: 'cannot read job file: no such file' }]);
    return true;
  });
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'job: x\nsource: [\n');
  const found = lintJobFiles([broken]);
  assert.equal(found.length, 1);
  assert.match(found[0].message, /^YAML syntax error: /);
});

test('a key named __proto__ is an unknown field, not a prototype change', () => {
  const found = problems(`${base}steps: []
sink: { console: {} }
__proto__: { polluted: true }
`);
  assert.deepEqual(found, ["job.yaml:7:1 unknown field '__proto__' in job file; known fields: job, description, source, eventTime, steps, sink, sinks, deadLetters, late, checkpoint"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
