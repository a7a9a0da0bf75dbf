import { stringify } from 'yaml';
import { loadJobText } from '../jobfile/load';
import type { JobSpec, StepSpec } from '../config/job';
import { selectRows, type RecordBatch, type Row } from '../core/batch';
import { ConfigError, type ConfigProblem } from '../core/errors';
import type { Operator, OperatorContext } from '../core/operator';
import { createOperator } from '../jobfile/components';
import type { OperatorFunction } from 'rxjs';
import type { RxStep } from '../runtime/run-job';
import { parseYamlText } from '../config/yaml-tree';

/**
 * A job built in code: the same object a job file loads into (`spec`), and
 * the operators of its steps, made afresh for every run.
 */
export interface JobDefinition {
  readonly spec: JobSpec;
  /** One per step, in order: the engine's for configured steps, the code's for code steps. */
  operators(): Array<Operator | RxStep>;
}

/**
 * A job as an object, shaped like a job file (`source: { kafka: {...} }`,
 * `steps: [{ dedupe: {...} }]`, durations as text such as `30m`), where a
 * step may also be written in code (`mapRows`, `filterRows`, `rxStep`,
 * `operatorStep`).
 */
export interface JobConfig {
  job: string;
  description?: string;
  source: Record<string, unknown>;
  eventTime: { field: string; maxOutOfOrder?: string; idleTimeout?: string; maxDrift?: string };
  steps: Array<Record<string, unknown> | CodeStep>;
  sink: Record<string, unknown>;
  sinks?: Record<string, Record<string, unknown>>;
  deadLetters?: Record<string, unknown>;
  late?: Record<string, unknown>;
  checkpoint?: Record<string, unknown>;
}

/** A step written in code; make one with `mapRows`, `filterRows`, `rxStep` or `operatorStep`. */
export interface CodeStep {
  readonly code: { id: string; create(): Operator | RxStep };
}

/**
 * Validates a job built in code exactly as a job file is validated (every
 * problem at once, as a ConfigError whose messages name the place, e.g.
 * `steps[1].window.tumbling.size`), and returns its definition.
 *
 * @example
 *   const definition = defineJob({
 *     job: 'tides-in-feet',
 *     source: { file: { path: 'data/bundled/tides.avro' } },
 *     eventTime: { field: 't', maxOutOfOrder: '30m' },
 *     steps: [
 *       { dedupe: { id: 'dedupe', key: ['station', 't'], horizon: '2h' } },
 *       mapRows('feet', (row) => ({ ...row, v: typeof row.v === 'number' ? row.v * 3.28084 : null })),
 *       { window: { id: 'daily', key: ['station'], tumbling: { size: '24h' }, aggregate: { high: 'max(v)' } } },
 *     ],
 *     sink: { jsonl: { path: 'out/feet.jsonl' } },
 *   });
 *   await run(definition);
 */
export function defineJob(config: JobConfig, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): JobDefinition {
  const codeSteps = new Map<number, CodeStep['code']>();
  // A code step stands in the validated job as a step that reads and changes nothing (an empty map).
  const steps = config.steps.map((step, index) => {
    if (!isCodeStep(step)) return step;
    codeSteps.set(index, step.code);
    return { map: { id: step.code.id, drop: [] } };
  });
  const file = 'defineJob';
  const text = stringify({ ...config, steps });
  let spec: JobSpec;
  try {
    // What a code step adds or drops is not known before the run: field names are then checked at run time only.
    spec = loadJobText(file, text, { cwd: options.cwd, env: options.env ?? {}, checkFields: codeSteps.size === 0 });
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(error.problems.map((problem) => atPath(problem, text)));
    throw error;
  }
  spec = { ...spec, steps: spec.steps.map((step, index): StepSpec => (codeSteps.has(index) ? { kind: 'code', id: step.id, at: step.at } : step)) };
  const finished = spec;
  return {
    spec: finished,
    operators: () => finished.steps.map((step, index) => codeSteps.get(index)?.create() ?? createOperator(step, finished)),
  };
}

/**
 * A step that maps each row to a new row, or to null to drop it (counted as
 * filtered out).
 *
 * @example
 *   mapRows('feet', (row) => ({ ...row, v_ft: (row.v as number) * 3.28084 }))
 */
export function mapRows(id: string, map: (row: Row) => Row | null): CodeStep {
  return operatorStep(id, () => ({
    id,
    process(batch: RecordBatch, context: OperatorContext): RecordBatch {
      const keep = new Uint8Array(batch.rows.length);
      const rows: Row[] = [];
      batch.rows.forEach((row, i) => {
        const mapped = map(row);
        if (mapped === null) return;
        keep[i] = 1;
        rows.push(mapped);
      });
      context.counters.filteredOut += batch.rows.length - rows.length;
      return { ...selectRows(batch, keep, rows.length), rows };
    },
  }));
}

/** A step that keeps the rows for which `keep` is true (the others are counted as filtered out). */
export function filterRows(id: string, keep: (row: Row) => boolean): CodeStep {
  return mapRows(id, (row) => (keep(row) ? row : null));
}

/**
 * A step that is an RxJS operator over record batches. It must answer each
 * batch with exactly one batch, in order; it may take its time (an async
 * lookup in `concatMap`), and checkpoints wait for it.
 *
 * @example
 *   rxStep('enrich', concatMap(async (batch) => ({ ...batch, rows: await lookUp(batch.rows) })))
 */
export function rxStep(id: string, rx: OperatorFunction<RecordBatch, RecordBatch>): CodeStep {
  return { code: { id, create: () => ({ id, rx }) } };
}

/**
 * A step that is an engine Operator (see core/operator.ts for its
 * lifecycle: process, onWatermark, onTimer, snapshot/restore, close), made
 * afresh for every run by `create`.
 */
export function operatorStep(id: string, create: () => Operator): CodeStep {
  return {
    code: {
      id,
      create: () => {
        const operator = create();
        if (operator.id !== id) throw new ConfigError([{ file: 'defineJob', line: 1, col: 1, message: `step '${id}': its operator's id is '${operator.id}'` }]);
        return operator;
      },
    },
  };
}

function isCodeStep(step: Record<string, unknown> | CodeStep): step is CodeStep {
  return typeof (step as CodeStep).code === 'object' && typeof (step as CodeStep).code?.create === 'function';
}

/** A problem in the YAML made of a code-built job, told by its path in the object instead. */
function atPath(problem: ConfigProblem, text: string): ConfigProblem {
  const tree = parseYamlText('defineJob', text, {});
  let path = '';
  for (const [pointer, entry] of tree.nodes) {
    for (const at of [entry.key, entry.value]) if (at !== undefined && at.line === problem.line && at.col === problem.col && path === '') path = pointerToPath(pointer);
  }
  return { ...problem, line: 0, col: 0, message: path === '' ? problem.message : `${path}: ${problem.message}` };
}

function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path === '' ? part : `${path}.${part}`), '');
}
