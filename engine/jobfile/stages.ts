import { extname } from 'node:path';
import { deleteTopic, ensureTopic, partitionKey, topicPartitionCount } from '../clients/kafka';
import { cassandraSinkOf, type JobSpec, type KafkaSourceSpec, type RepartitionStepSpec, type SinkSpec } from '../config/job';
import { ExternalError, UsageError } from '../core/errors';
import { RetryPolicy } from '../core/retry';

/**
 * A job with a `repartition` step runs as two stages, as Kafka Streams runs a
 * sub-topology on each side of a repartition topic:
 *
 *   stage 1  <job>            the job's topic -> steps before the step -> envelopes into <group>-<id>-repartition,
 *                             keyed by the step's `by` (a task per partition of the job's topic)
 *   stage 2  <job>.<id>       <group>-<id>-repartition -> steps after it -> the job's sinks
 *                             (a task per partition of the internal topic: every row of a key in one task)
 *
 * Each stage is a job of its own: its consumer group, its tasks, its
 * checkpoints. Stage 1 may send rows twice (a restart goes back to its last
 * checkpoint); stage 2 drops every row whose origin offset it has already
 * seen, and takes its watermark from the marks stage 1 sends (the smallest
 * over the origins), so results are those of a job whose topic was keyed by
 * `by` in the first place (codecs/repartition-envelope.ts).
 *
 * Only filter and map steps may come before the step (lint says so): stage 1
 * must send the same rows for the same records, whatever it restarted from.
 */

/** The repartition step of a job, if it has one. */
export function repartitionStepOf(job: JobSpec): RepartitionStepSpec | undefined {
  return job.steps.find((step): step is RepartitionStepSpec => step.kind === 'repartition');
}

/** Whether `job` must run as two stages: a Kafka job with a repartition step, not already its first stage. */
export function runsInStages(job: JobSpec): boolean {
  const isFirstStage = job.sink.kind === 'kafka' && job.sink.kafka.repartition !== undefined;
  return job.source.kind === 'kafka' && repartitionStepOf(job) !== undefined && !isFirstStage;
}

/** The internal topic of a job's repartition step. */
export function repartitionTopic(source: KafkaSourceSpec, step: RepartitionStepSpec): string {
  return `${source.group}-${step.id}-repartition`;
}

/**
 * The stages `job` runs as: itself, itself without its repartition step when
 * one task sees every record anyway (not a Kafka source), or its two stages.
 * Creates the internal topic when it does not exist (waiting out an
 * unreachable cluster; `signal` ends the wait); `resetState` deletes it first.
 */
export async function stagesOf(job: JobSpec, options: { log?: (line: string) => void; signal?: AbortSignal; resetState?: boolean } = {}): Promise<JobSpec[]> {
  const step = repartitionStepOf(job);
  if (step === undefined || (job.source.kind === 'kafka' && !runsInStages(job))) return [job];
  if (job.source.kind !== 'kafka') return [{ ...job, steps: job.steps.filter((other) => other !== step) }];
  const log = options.log ?? (() => {});
  const source = job.source.kafka;
  const topic = repartitionTopic(source, step);
  const retrying = new RetryPolicy({ subject: 'kafka', log, signal: options.signal });
  const origins = await retrying.run(`read the partitions of topic ${source.topic}`, async () => {
    const count = await topicPartitionCount(source, source.topic, { log });
    if (count === undefined) throw new ExternalError(`topic ${source.topic} does not exist (yet)`, { retriable: true });
    return Array.from({ length: count }, (_, partition) => partitionKey(source.topic, partition));
  });
  // Its rows derive from the first stage's state: starting that afresh (--reset-state) starts them afresh too.
  if (options.resetState === true) await retrying.run(`delete topic ${topic}`, () => deleteTopic(source, topic, { log }));
  const partitions = await retrying.run(`create topic ${topic}`, () => ensureTopic(source, topic, step.partitions ?? origins.length, { log }));
  const at = job.steps.indexOf(step);
  const connection = { brokers: source.brokers, clientId: source.clientId, ...(source.ssl ? { ssl: source.ssl } : {}), ...(source.sasl ? { sasl: source.sasl } : {}) };
  const first: JobSpec = {
    ...job,
    steps: [...job.steps.slice(0, at), { ...step, origins }],
    sink: { kind: 'kafka', kafka: { ...connection, topic, format: { kind: 'json' }, repartition: { by: step.by, partitions } } },
    sinks: {},
    ...(job.deadLetters ? { deadLetters: beforeStep(job.deadLetters, step) } : {}),
    ...(job.late ? { late: beforeStep(job.late, step) } : {}),
    checkpoint: job.checkpoint.kind === 'cassandra' ? { ...job.checkpoint, connection: job.checkpoint.connection ?? cassandraSinkOf(job.sink) } : job.checkpoint,
  };
  if (first.checkpoint.kind === 'cassandra' && first.checkpoint.connection === undefined) {
    throw new UsageError(`job ${job.job}: a Cassandra checkpoint store needs a Cassandra sink to take its connection from`);
  }
  const second: JobSpec = {
    ...job,
    job: `${job.job}.${step.id}`,
    source: {
      kind: 'kafka',
      kafka: { ...source, topic, group: `${source.group}.${step.id}`, startFrom: 'earliest', keyedBy: step.by, repartitioned: { origins } },
    },
    steps: job.steps.slice(at + 1),
  };
  return [first, second];
}

/** A side output of the first stage: the same, but a local file gets a name of its own (two stages must not share one). */
function beforeStep(spec: SinkSpec, step: RepartitionStepSpec): SinkSpec {
  const renamed = (path: string) => {
    const extension = extname(path);
    return `${path.slice(0, path.length - extension.length)}.before-${step.id}${extension}`;
  };
  if (spec.kind === 'jsonl') return { kind: 'jsonl', jsonl: { path: renamed(spec.jsonl.path) } };
  if (spec.kind === 'csv') return { kind: 'csv', csv: { path: renamed(spec.csv.path) } };
  if (spec.kind === 'all') return { kind: 'all', all: { sinks: spec.all.sinks.map((sink) => beforeStep(sink, step)) } };
  return spec;
}
