import type { RepartitionStepSpec } from '../config/job';
import type { RecordBatch, Row } from '../core/batch';
import type { Operator, OperatorContext } from '../core/operator';
import { ENVELOPE, type EnvelopeRow } from '../codecs/repartition-envelope';
import { fieldListSchema, stepIdSchema } from '../config/component';
import type { JsonSchema, StepContext } from '../config/component';

/**
 * The last step of a job's first stage when the job has a `repartition`
 * step (jobfile/stages.ts): each row leaves wrapped in an envelope naming
 * its origin (source partition and offset) and the watermark it arrived
 * under; after each batch, and whenever the watermark moves, a mark carries
 * the origin's watermark to every partition of the internal topic; at the end
 * of a bounded run, the end of the origin. Stateless: a restarted first stage
 * sends the same envelopes again, which the second stage recognises.
 *
 * Marks are not results: they are taken off the task's result count.
 */
export class RepartitionOperator implements Operator {
  readonly id: string;
  /** Origins this operator has seen batches of (a task of every partition sends marks for each). */
  private readonly seen = new Set<string>();

  constructor(
    spec: RepartitionStepSpec,
    /** Every partition of the job's topic: a task of the whole job ends them all. */
    private readonly origins: readonly string[],
  ) {
    this.id = spec.id;
  }

  process(batch: RecordBatch, context: OperatorContext): RecordBatch {
    const { rows, offsets, watermarks, source } = batch;
    const out: Row[] = new Array(rows.length + 1);
    for (let i = 0; i < rows.length; i++) {
      const envelope: EnvelopeRow = { [ENVELOPE]: 'row', origin: source.partition, offset: offsets[i], watermark: watermarks[i], row: rows[i] };
      out[i] = envelope;
    }
    this.seen.add(source.partition);
    out[rows.length] = this.mark(source.partition, batch.watermark, context);
    // The rows' own watermarks and offsets, then the mark's.
    const outWatermarks = new Float64Array(out.length);
    outWatermarks.set(watermarks);
    outWatermarks[rows.length] = batch.watermark;
    const outOffsets = new Float64Array(out.length);
    outOffsets.set(offsets);
    outOffsets[rows.length] = source.toOffset - 1;
    return { rows: out, watermarks: outWatermarks, offsets: outOffsets, watermark: batch.watermark, source };
  }

  onWatermark(watermark: number, context: OperatorContext): Row[] {
    return this.ownOrigins(context).map((origin) => this.mark(origin, watermark, context));
  }

  /** The end of a bounded run: no more rows from this task's origins. */
  close(context: OperatorContext): Row[] {
    return this.ownOrigins(context).map((origin) => this.mark(origin, Number.POSITIVE_INFINITY, context));
  }

  /** Its task's partition; a task of every partition: all of them at the end, those it read from otherwise. */
  private ownOrigins(context: OperatorContext): string[] {
    if (typeof context.partition === 'string') return [context.partition];
    return context.partition === null ? [...new Set([...this.origins, ...this.seen])] : [...this.seen];
  }

  private mark(origin: string, watermark: number, context: OperatorContext): Row {
    context.counters.resultsOut--;
    const mark: EnvelopeRow = { [ENVELOPE]: 'mark', origin, watermark };
    return mark;
  }
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Repartition step: re-keys the rows through an internal Kafka topic, so
 * every step after it sees all rows of a key in one task, whatever the job's
 * topic is keyed by.
 *
 * @example
 * steps:
 *   - repartition: { id: by-station, by: [station] }
 */

export interface RepartitionConfig {
  id: string;
  by: string[];
  partitions?: number;
}

export const schema: JsonSchema = {
  title: 'repartition step',
  description:
    'Re-keys the rows through an internal Kafka topic (`<group>-<id>-repartition`), so the steps after it see every row of a key in one task, ' +
    'whatever the job\'s topic is keyed by. The job then runs as two stages, each a consumer group; only filter and map steps may come before it. ' +
    'Without a Kafka source (a file, the generator) one task sees every record and the step does nothing.',
  examples: [{ id: 'by-station', by: ['station'] }],
  type: 'object',
  required: ['id', 'by'],
  requiredWhy: { id: 'it names the internal topic, the second stage\'s consumer group and its checkpoints' },
  additionalProperties: false,
  properties: {
    id: stepIdSchema(true),
    by: fieldListSchema('Fields the rows are re-keyed by: the key of the steps after it, or a part of it.', [['station']], 1),
    partitions: { description: 'Partitions of the internal topic when it is created (default: as many as the job\'s topic).', type: 'integer', minimum: 1, examples: [6] },
  },
};

/** Schema-validated YAML to the JobSpec form. */
export function normalize(raw: RepartitionConfig, context: StepContext): RepartitionStepSpec {
  return { kind: 'repartition', id: raw.id, by: [...raw.by], ...(raw.partitions === undefined ? {} : { partitions: raw.partitions }), at: context.at };
}
