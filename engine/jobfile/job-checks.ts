import type { Reporter } from '../config/component';
import { didYouMean } from '../config/did-you-mean';
import { SINKS, SOURCES, STEPS } from './job-schema';
import type { ProblemCollector } from '../config/problems';
import { childPointer } from '../config/yaml-tree';

/**
 * Checks that span more than one component: step ids, route targets, the
 * checkpoint store's needs. Like everything in validation they run on data
 * that may be partly wrong, so they look before they trust.
 */

type Json = Record<string, unknown>;
const isMap = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The one kind key of a one-key map, if it has exactly one known one. */
export function kindOf(value: unknown, kinds: Record<string, unknown>): string | undefined {
  if (!isMap(value)) return undefined;
  const present = Object.keys(value).filter((key) => Object.prototype.hasOwnProperty.call(kinds, key));
  return present.length === 1 ? present[0] : undefined;
}

/** The id a step runs under: its own, or `<kind>-<position>` (1-based, as in messages). */
export function stepId(step: Json, kind: string, index: number): string {
  return typeof step.id === 'string' ? step.id : `${kind}-${index + 1}`;
}

/** Reporter for a component whose YAML node is at `base`. */
export function reporterAt(collector: ProblemCollector, base: string): Reporter {
  const pointer = (path: ReadonlyArray<string | number>) => path.reduce<string>((p, key) => childPointer(p, key), base);
  return {
    atValue: (path, message) => collector.atValue(pointer(path), message),
    atKey: (path, message) => collector.atKey(pointer(path), message),
    atOwner: (path, message) => collector.atOwner(pointer(path), message),
  };
}

export function checkJob(data: Json, collector: ProblemCollector): void {
  runComponentChecks(data, collector);
  checkStepIds(data, collector);
  checkRoutes(data, collector);
  checkCheckpoint(data, collector);
  checkCoPartitioning(data, collector);
  checkRepartition(data, collector);
}

/**
 * A Kafka job runs a task per partition, each with its own state: a dedupe or
 * window step sees all records of one of its groups only if the topic's key
 * decides the group, i.e. the step groups by every field the topic is keyed
 * by (`source.kafka.keyedBy`), or, after a `repartition` step, by every field
 * of its `by`. Without either nothing can be proven; the run says so once.
 */
function checkCoPartitioning(data: Json, collector: ProblemCollector): void {
  const kafka = isMap(data.source) && isMap(data.source.kafka) ? data.source.kafka : undefined;
  const fields = (value: unknown) => (Array.isArray(value) ? value.filter((field): field is string => typeof field === 'string') : []);
  let keyedBy = kafka !== undefined ? fields(kafka.keyedBy) : [];
  let keyedWhere = 'the topic is keyed by';
  let keyedHow = '(source.kafka.keyedBy)';
  if (!Array.isArray(data.steps)) return;
  data.steps.forEach((step, index) => {
    const kind = kindOf(step, STEPS);
    const config = kind === undefined ? undefined : (step as Json)[kind];
    if (!isMap(config)) return;
    if (kind === 'repartition') {
      keyedBy = fields(config.by);
      keyedWhere = `repartition step '${stepId(config, kind, index)}' keys the rows by`;
      keyedHow = '';
      return;
    }
    if ((kind !== 'dedupe' && kind !== 'window') || !Array.isArray(config.key) || keyedBy.length === 0) return;
    const key = fields(config.key);
    const missing = keyedBy.filter((field) => !key.includes(field));
    if (missing.length === 0) return;
    collector.atValue(
      childPointer(childPointer(childPointer('/steps', index), kind), 'key'),
      `${kind} step '${stepId(config, kind, index)}' groups by [${key.join(', ')}], but ${keyedWhere} [${keyedBy.join(', ')}]${keyedHow === '' ? '' : ` ${keyedHow}`}: ` +
        `one group's records can be in several partitions, and each partition is a task with its own state. ` +
        `Group by ${missing.join(', ')} too, or ${keyedHow === '' ? 're-key by the step\'s fields' : 'key the topic by the step\'s fields (or re-key with a repartition step)'}.`,
    );
  });
}

/**
 * A repartition step splits the job into two stages (jobfile/stages.ts). The
 * first must send the same rows for the same records after a restart, so only
 * stateless steps with one row out per row in (filter, map) may come before
 * it; one such step per job.
 */
function checkRepartition(data: Json, collector: ProblemCollector): void {
  if (!Array.isArray(data.steps)) return;
  const kinds = data.steps.map((step) => kindOf(step, STEPS));
  const first = kinds.indexOf('repartition');
  if (first < 0) return;
  kinds.forEach((kind, index) => {
    const config = kind === undefined ? undefined : (data.steps as Json[])[index][kind];
    const id = isMap(config) && kind !== undefined ? stepId(config, kind, index) : `step ${index + 1}`;
    if (kind === 'repartition' && index !== first) {
      collector.atKey(childPointer(childPointer('/steps', index), kind), `repartition step '${id}': a job may re-key once; this is its second repartition step`);
    } else if (index < first && kind !== undefined && kind !== 'filter' && kind !== 'map') {
      collector.atKey(
        childPointer(childPointer('/steps', index), kind),
        `${kind} step '${id}' comes before the repartition step: only filter and map steps may, since the stage before it must send the same rows ` +
          'for the same records whatever it restarted from. Move it after the repartition step.',
      );
    }
  });
}

function runComponentChecks(data: Json, collector: ProblemCollector): void {
  const run = (value: unknown, pointer: string, modules: Record<string, { check?(raw: never, report: Reporter): void }>) => {
    const kind = kindOf(value, modules);
    if (kind === undefined) return;
    const config = (value as Json)[kind];
    // The sinks of an `all` list are checked one by one.
    if (modules === SINKS && kind === 'all' && Array.isArray(config)) config.forEach((item, index) => run(item, childPointer(childPointer(pointer, kind), index), SINKS));
    const check = modules[kind].check;
    if (check !== undefined && isMap(config)) check(config as never, reporterAt(collector, childPointer(pointer, kind)));
  };
  run(data.source, '/source', SOURCES);
  if (Array.isArray(data.steps)) data.steps.forEach((step, index) => run(step, childPointer('/steps', index), STEPS));
  for (const key of ['sink', 'deadLetters', 'late']) run(data[key], `/${key}`, SINKS);
  if (isMap(data.sinks)) for (const [name, sink] of Object.entries(data.sinks)) run(sink, childPointer('/sinks', name), SINKS);
}

function checkStepIds(data: Json, collector: ProblemCollector): void {
  if (!Array.isArray(data.steps)) return;
  const firstUse = new Map<string, number>();
  data.steps.forEach((item, index) => {
    const kind = kindOf(item, STEPS);
    if (kind === undefined) return;
    const step = (item as Json)[kind];
    if (!isMap(step)) return;
    const id = stepId(step, kind, index);
    const pointer = childPointer(childPointer(childPointer('/steps', index), kind), 'id');
    const earlier = firstUse.get(id);
    if (earlier === undefined) {
      firstUse.set(id, index);
      return;
    }
    const where = collector.position(childPointer('/steps', earlier));
    const message = `step id '${id}' is already used by step ${earlier + 1}${where === undefined ? '' : ` (line ${where.line})`}; ids name checkpointed state, so each must be unique`;
    if (typeof step.id === 'string') collector.atValue(pointer, message);
    else collector.atOwner(childPointer(childPointer('/steps', index), kind), `${message}; give this step an id`);
  });
}

function checkRoutes(data: Json, collector: ProblemCollector): void {
  if (!Array.isArray(data.steps)) return;
  const sinkNames = isMap(data.sinks) ? Object.keys(data.sinks) : [];
  data.steps.forEach((item, index) => {
    if (kindOf(item, STEPS) !== 'route') return;
    const route = (item as Json).route;
    if (!isMap(route) || !Array.isArray(route.routes)) return;
    route.routes.forEach((entry, routeIndex) => {
      if (!isMap(entry) || typeof entry.to !== 'string' || sinkNames.includes(entry.to)) return;
      const pointer = `${childPointer('/steps', index)}/route/routes/${routeIndex}/to`;
      const fix =
        sinkNames.length === 0
          ? `declare it under 'sinks:', e.g. sinks: { ${entry.to}: { jsonl: { path: out/${entry.to}.jsonl } } }`
          : `declare it under 'sinks:' (declared: ${sinkNames.join(', ')})`;
      collector.atValue(pointer, `route target '${entry.to}' is not a named sink${didYouMean(entry.to, sinkNames)}; ${fix}`);
    });
  });
}

function checkCheckpoint(data: Json, collector: ProblemCollector): void {
  const checkpoint = data.checkpoint;
  if (!isMap(checkpoint) || !isMap(checkpoint.cassandra)) return;
  const sinkKind = kindOf(data.sink, SINKS);
  if (sinkKind === undefined || sinkKind === 'cassandra') return;
  // Among several sinks, the first cassandra one lends its connection.
  const all = sinkKind === 'all' ? (data.sink as Json).all : undefined;
  if (Array.isArray(all) && all.some((item) => kindOf(item, SINKS) === 'cassandra')) return;
  collector.atKey(
    '/checkpoint/cassandra',
    `a cassandra checkpoint uses the cassandra sink's connection, but this job's sink is ${sinkKind}; use checkpoint: { file: {} }`,
  );
}
