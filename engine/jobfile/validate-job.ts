import type Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import type { ConfigProblem } from '../core/errors';
import { reportAjvErrors } from './ajv-messages';
import type { Describe } from './ajv-messages';
import type { ComponentContext, StepContext } from '../config/component';
import * as eventTime from '../config/event-time';
import type { EventTimeConfig } from '../config/event-time';
import type { ExpressionParser } from './expression-parser';
import { checkFieldFlow } from './field-flow';
import { checkJob, kindOf, stepId } from './job-checks';
import { jobFileDirectory, resolveJobPaths } from './job-paths';
import { emptyValuesToMaps, jobSchema, SINKS, SOURCES, STEPS } from './job-schema';
import type { JobSpec, SinkSpec, SourceSpec, StepSpec } from '../config/job';
import { createAjv } from './keywords';
import { ProblemCollector } from '../config/problems';
import { childPointer } from '../config/yaml-tree';
import type { YamlTree } from '../config/yaml-tree';
import * as checkpoint from '../state/checkpoint';

/**
 * Validation of a parsed job file, in the order that keeps messages useful:
 *
 *   1. structure and values, per component schema (Ajv, every error);
 *   2. component checks that need more than one field (slide <= size...);
 *   3. cross-component checks (step ids, route targets, field names);
 *   4. only if nothing was found: normalisation into a JobSpec.
 */

export interface ValidateOptions {
  parseExpression: ExpressionParser;
  /** The working directory a relative job file name starts at; paths inside the job start at the job file's directory. */
  cwd: string;
  /**
   * Follow field names through the steps (default true). Jobs with steps
   * written in code turn it off: what such a step adds or drops is not known
   * before the run.
   */
  checkFields?: boolean;
}

export type ValidationResult = { problems: ConfigProblem[]; spec?: JobSpec };

type Json = Record<string, unknown>;

const validators = new WeakMap<ExpressionParser, ValidateFunction>();

function validatorFor(parseExpression: ExpressionParser): ValidateFunction {
  let validate = validators.get(parseExpression);
  if (validate === undefined) {
    const ajv: Ajv = createAjv(parseExpression);
    validate = ajv.compile(jobSchema);
    validators.set(parseExpression, validate);
  }
  return validate;
}

export function validateTree(tree: YamlTree, options: ValidateOptions): ValidationResult {
  const collector = new ProblemCollector(tree);
  if (tree.data === undefined) return { problems: collector.list() };
  if (tree.data === null) {
    collector.atValue('', 'job file is empty; a job needs job, source, eventTime, steps and sink (see jobs/ for examples)');
    return { problems: collector.list() };
  }
  const data = emptyValuesToMaps(tree.data, jobSchema);
  const validate = validatorFor(options.parseExpression);
  if (!validate(data)) reportAjvErrors(validate.errors ?? [], collector, describer(data));
  const jobDir = jobFileDirectory(tree.file, options.cwd);
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    checkJob(data as Json, collector);
    if (options.checkFields !== false) checkFieldFlow(data as Json, collector, jobDir, options.parseExpression, options.cwd);
  }
  if (collector.count() > 0) return { problems: collector.list() };
  return { problems: [], spec: resolveJobPaths(normalizeJob(data as Json, tree), data as Json, jobDir) };
}

/** Names maps in messages; steps by kind and id, since "window step 'lunar-day'" is what users search for. */
function describer(data: unknown): Describe {
  return (pointer, schema) => {
    const step = /^\/steps\/(\d+)(?:\/([^/]+))?$/.exec(pointer);
    if (step !== null && data !== null && typeof data === 'object') {
      const index = Number(step[1]);
      const item = ((data as Json).steps as unknown[] | undefined)?.[index];
      const kind = step[2] ?? kindOf(item, STEPS);
      if (kind === undefined || !Object.prototype.hasOwnProperty.call(STEPS, kind)) return `step ${index + 1}`;
      const config = (item as Json)[kind];
      const id = config !== null && typeof config === 'object' ? (config as Json).id : undefined;
      return typeof id === 'string' ? `${kind} step '${id}'` : `${kind} step ${index + 1}`;
    }
    const sink = /^\/sinks\/([^/]+)$/.exec(pointer);
    if (sink !== null) return `sink '${sink[1].replace(/~1/g, '/').replace(/~0/g, '~')}'`;
    return schema.title ?? pointer;
  };
}

function normalizeJob(data: Json, tree: YamlTree): JobSpec {
  const job = data.job as string;
  const context: ComponentContext = { job };
  const sink = normalizeSink(data.sink, context);
  const sinks: Record<string, SinkSpec> = {};
  for (const [name, value] of Object.entries((data.sinks as Json | undefined) ?? {})) sinks[name] = normalizeSink(value, context);
  const steps = (data.steps as Json[]).map((item, index): StepSpec => {
    const kind = kindOf(item, STEPS)!;
    const at = tree.nodes.get(childPointer('/steps', index))?.value ?? { line: 1, col: 1 };
    const stepContext: StepContext = { defaultId: stepId(item[kind] as Json, kind, index), at: { line: at.line, col: at.col } };
    return STEPS[kind].normalize(item[kind] as never, stepContext) as StepSpec;
  });
  return {
    job,
    ...(typeof data.description === 'string' ? { description: data.description } : {}),
    file: tree.file,
    source: normalizeSource(data.source, context),
    eventTime: eventTime.normalize(data.eventTime as EventTimeConfig),
    steps,
    sink,
    sinks,
    ...(data.deadLetters === undefined ? {} : { deadLetters: normalizeSink(data.deadLetters, context) }),
    ...(data.late === undefined ? {} : { late: normalizeSink(data.late, context) }),
    checkpoint: checkpoint.normalize(data.checkpoint as checkpoint.CheckpointConfig | undefined, { job, sink }),
  };
}

function normalizeSource(value: unknown, context: ComponentContext): SourceSpec {
  const kind = kindOf(value, SOURCES)!;
  return { kind, [kind]: SOURCES[kind].normalize((value as Json)[kind] as never, context) } as SourceSpec;
}

function normalizeSink(value: unknown, context: ComponentContext): SinkSpec {
  const kind = kindOf(value, SINKS)!;
  if (kind === 'null') return { kind: 'null' };
  if (kind === 'all') return { kind: 'all', all: { sinks: ((value as Json).all as unknown[]).map((item) => normalizeSink(item, context)) } };
  return { kind, [kind]: SINKS[kind].normalize((value as Json)[kind] as never, context) } as SinkSpec;
}
