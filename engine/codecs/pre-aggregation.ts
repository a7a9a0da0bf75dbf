import type * as avro from 'avsc';
import { parseAvroType } from './avro-schema';
import { CONFLUENT_HEADER_SIZE, prepareWriterResolver } from './confluent-avro';
import { flatRecordReaderOrNull, type FlatRecordReader, type FlatValidation } from './flat-record-reader';
import { createRowValidator, eventTimeBounds, MAX_STRING_LENGTH } from './validate';
import type { JobSpec, WindowStepSpec } from '../config/job';
import { canPreAggregate, WindowPartialsBuilder, type WindowPartials } from '../windows/window-partials';
import type { Row } from '../core/batch';
import type { DecodeProjection } from './projection';

/**
 * Pre-aggregation: a job whose first step is a window has each chunk of a
 * batch decoded, validated and aggregated into partial windows on the
 * thread that decodes it (window-partials.ts), the run loop's own thread
 * included; the run loop only merges partials. This is the "per-batch
 * pre-aggregation" of DESIGN.md section 1. Records are read by a flat
 * reader compiled for the schema pair (flat-record-reader.ts) that also
 * validates, into one reused row: no object per record, no second pass of
 * the validator. Schema pairs it cannot read exactly are read by avsc.
 *
 * A chunk is "clean" when every record decodes, passes validation and is
 * simply aggregated. Anything else (a dead letter of any kind) makes the
 * decoder fall back to decoding the batch on the run loop's path, so dead
 * letters keep their exact reasons and order.
 */

/** What a thread needs to pre-aggregate: JSON-serialisable, sent to workers as text. */
export interface PreAggregationPlan {
  /** The job's reader schema and, when the job skips fields, the narrower schema it reads with. */
  readerSchema: avro.Schema;
  projectedSchema: avro.Schema | null;
  /** Records longer than this (bytes, header included) are read whole (projection.ts). */
  wholeAboveBytes: number;
  /** Fields the projection skips: validation accepts them absent. */
  skipped: string[];
  eventTimeField: string;
  /** The instant every thread's validator judges "50 years from now" against, so they agree. */
  validatorNow: number;
  window: WindowStepSpec;
}

/**
 * The plan for a job, or null when its first step is not a window that can
 * be pre-aggregated (canPreAggregate). `validatorNow` must be the `now` the
 * run loop's own validator was built with.
 *
 * @example
 *   const plan = preAggregationPlan(job, readerType, decodeProjection(job, readerType), now);
 */
export function preAggregationPlan(job: JobSpec, reader: avro.Type, projection: DecodeProjection | null, validatorNow: number): PreAggregationPlan | null {
  const first = job.steps[0];
  if (first === undefined || first.kind !== 'window' || !canPreAggregate(first)) return null;
  return {
    readerSchema: reader.schema({ exportAttrs: true }),
    projectedSchema: projection ? projection.type.schema({ exportAttrs: true }) : null,
    wholeAboveBytes: projection ? projection.wholeAboveBytes : 0,
    skipped: projection ? projection.skipped.slice() : [],
    eventTimeField: job.eventTime.field,
    validatorNow,
    window: first,
  };
}

/** A chunk's result: the partials and every record's event time (for watermarks), or null when it is not clean. */
export interface AggregatedChunk {
  partials: WindowPartials;
  times: Float64Array;
}

/** A compiled reader (flat-record-reader.ts) that also validates, and the one row it reads into. */
interface FlatRead {
  reader: FlatRecordReader;
  row: Row;
}

interface WriterPlan {
  whole: avro.Resolver | undefined;
  /** null: read such records whole (the projected reader cannot take this writer). */
  projected: { resolver: avro.Resolver | undefined } | null;
  /** Compiled readers for this writer, whole and projected; null where avsc reads instead. */
  flatWhole: FlatRead | null;
  flatProjected: FlatRead | null;
}

/**
 * Decodes, validates and pre-aggregates chunks for one plan; one per thread
 * and plan. Writer schemas come as JSON text by id (the run loop owns the
 * registry); resolvers are cached per id.
 *
 * @example
 *   const aggregator = new ChunkAggregator(plan);
 *   for (let i = 0; i < count; i++) if (!aggregator.add(buffer, starts[i], ends[i], ids[i], writerText)) return null;
 *   const chunk = aggregator.finish();
 */
export class ChunkAggregator {
  private readonly reader: avro.Type;
  private readonly projected: avro.Type | null;
  private readonly wholeAbove: number;
  private readonly skipped: ReadonlySet<string>;
  private readonly eventTimeField: string;
  private readonly validate: (row: Row) => string | null;
  /** The validator's rules, for the flat readers to apply while decoding. */
  private readonly validation: FlatValidation;
  private readonly builder: WindowPartialsBuilder;
  private readonly writers = new Map<number, WriterPlan>();
  private times = new Float64Array(1024);
  private rows = 0;
  private lastId = Number.NaN;
  private lastWriter: WriterPlan | undefined;

  constructor(plan: PreAggregationPlan) {
    this.reader = parseAvroType(plan.readerSchema, 'reader schema');
    this.projected = plan.projectedSchema === null ? null : parseAvroType(plan.projectedSchema, 'projected reader schema');
    this.wholeAbove = plan.wholeAboveBytes;
    this.skipped = new Set(plan.skipped);
    this.eventTimeField = plan.eventTimeField;
    this.validate = createRowValidator(this.reader, plan.eventTimeField, { mayBeAbsent: plan.skipped, now: plan.validatorNow });
    this.validation = { eventTimeField: plan.eventTimeField, ...eventTimeBounds(plan.validatorNow), maxStringLength: MAX_STRING_LENGTH };
    this.builder = new WindowPartialsBuilder(plan.window, plan.eventTimeField);
  }

  /**
   * Add the record at bytes [start, end) of `buffer` (Confluent header
   * included), written with schema `id`. False when the record is not
   * clean; the chunk is then abandoned (call `abandon`).
   */
  add(buffer: Buffer, start: number, end: number, id: number, writerSchema: (id: number) => string | undefined): boolean {
    let writer = this.lastWriter;
    if (id !== this.lastId) {
      writer = this.writerPlan(id, writerSchema);
      this.lastId = id;
      this.lastWriter = writer;
    }
    if (writer === undefined) return false;
    const projected = this.projected !== null && writer.projected !== null && end - start <= this.wholeAbove;
    let row: Row;
    const flat = projected ? writer.flatProjected : writer.flatWhole;
    if (flat !== null) {
      // Anything the flat reader does not decode exactly, or the validator would refuse, makes the
      // chunk unclean: avsc and the validator word the reason on the row path.
      if (!flat.reader.read(buffer, start + CONFLUENT_HEADER_SIZE, end, flat.row)) return false;
      row = flat.row;
      const t = row[this.eventTimeField];
      if (typeof t !== 'number') return false;
      return this.accept(row, t);
    } else {
      let decoded: { value: unknown; offset: number };
      try {
        decoded = projected
          ? this.projected!.decode(buffer, start + CONFLUENT_HEADER_SIZE, writer.projected!.resolver)
          : this.reader.decode(buffer, start + CONFLUENT_HEADER_SIZE, writer.whole);
      } catch {
        return false;
      }
      if (decoded.offset !== end) return false;
      row = decoded.value as Row;
    }
    const t = row[this.eventTimeField];
    // The run loop's checks, in its order (run-job.ts, prepareBatch).
    if (typeof t !== 'number' || !Number.isFinite(t) || this.validate(row) !== null) return false;
    return this.accept(row, t);
  }

  /** Record a valid row with event time `t`. */
  private accept(row: Row, t: number): boolean {
    const index = this.rows++;
    if (index === this.times.length) {
      const grown = new Float64Array(index * 2);
      grown.set(this.times);
      this.times = grown;
    }
    this.times[index] = t;
    return this.builder.add(row, index);
  }

  /** The chunk's partials and event times; the aggregator starts over. */
  finish(): AggregatedChunk {
    const times = this.times.slice(0, this.rows);
    this.rows = 0;
    return { partials: this.builder.finish(), times };
  }

  /** Drop the chunk being built. */
  abandon(): void {
    this.rows = 0;
    this.builder.finish();
  }

  private writerPlan(id: number, writerSchema: (id: number) => string | undefined): WriterPlan | undefined {
    const cached = this.writers.get(id);
    if (cached !== undefined) return cached;
    const text = writerSchema(id);
    if (text === undefined) return undefined;
    const writerType = parseAvroType(text, `writer schema ${id}`);
    const whole = prepareWriterResolver(this.reader, writerType, id);
    // The run loop dead-letters incompatible ids before a chunk is built; not clean if one gets here.
    if (typeof whole === 'string') return undefined;
    const narrowed = this.projected === null ? null : prepareWriterResolver(this.projected, writerType, id);
    const projected = narrowed === null || typeof narrowed === 'string' ? null : narrowed;
    const plan: WriterPlan = {
      whole: whole.resolver,
      projected,
      flatWhole: flatRead(this.reader, writerType, { validation: this.validation }),
      flatProjected: projected === null ? null : flatRead(this.reader, writerType, { skipped: this.skipped, validation: this.validation }),
    };
    this.writers.set(id, plan);
    return plan;
  }
}

function flatRead(reader: avro.Type, writer: avro.Type, options: { skipped?: ReadonlySet<string>; validation: FlatValidation }): FlatRead | null {
  const compiled = flatRecordReaderOrNull(reader, writer, options);
  return compiled === null ? null : { reader: compiled, row: compiled.newRow() };
}
