import type { RawBatch, RecordBatch, Row } from '../core/batch';
import type { Positions } from '../core/source';

/**
 * What flows through a job's dataflow: record batches, and the control events
 * that travel in line with them, so every stage sees them in the same order.
 *
 *   data       a batch of records from the source (decoded, validated, with watermarks)
 *   watermark  the watermark moved without records (a quiet partition stopped holding it back)
 *   timer      a processing-time timer an operator asked for is due
 *   barrier    a checkpoint: each stateful operator snapshots itself as the barrier passes,
 *              and once the sinks wrote everything before it, the checkpoint is saved
 *   end        the end of a finite input: the watermark is +infinity, operators close
 *
 * Every event carries a batch: the records of a data event, and for the others
 * the rows operators emitted on the way (windows a watermark closed). Rows
 * leaving the job for other outputs (routes, late records, dead letters) are
 * gathered in `outputs` per sink name; the sink stage writes them in order.
 */
export type StreamEvent = DataEvent | ControlEvent;

export interface DataEvent extends EventBase {
  kind: 'data';
  /** The batch as the source read it (producer timestamps for latency metrics). */
  raw: RawBatch;
  /** A barrier follows: the source reads on once it is saved, not when this batch is written. */
  barrierFollows?: boolean;
  /** What the batch's rows were decoded from (dead letters carry it instead of the decoded row). */
  decoded?: { offsets: ArrayLike<number>; rows: readonly Row[]; payloadAt(index: number): string | Buffer; lineOfOffsetZero?: number };
}

export interface ControlEvent extends EventBase {
  kind: 'watermark' | 'timer' | 'barrier' | 'end';
  /** For `timer`: the index of the operator whose timer is due. */
  operator?: number;
  /** For `timer`, `watermark` and `end`: the key of the task it is for. */
  task?: string;
  /** For `barrier`: what the checkpoint is made of, filled in as it passes. */
  barrier?: Barrier;
  /** For a barrier right after a batch: the source may read on once it is saved. */
  releasesCredit?: boolean;
}

interface EventBase {
  batch: RecordBatch;
  /** Rows for outputs other than `main`, by sink name (`late`, `dead-letters`, route targets). */
  outputs: Map<string, Row[]>;
}

/** What a barrier checkpoints: one or more tasks' states, captured in stream order as it passes each stage. */
export interface Barrier {
  /** Why it was sent: the interval, a quiet stream, a stop, the end of the input, partitions taken away. */
  reason: 'interval' | 'quiet' | 'stop' | 'end' | 'revoke';
  /** The state of each task it checkpoints, by the task's key. */
  tasks: Map<string, TaskState>;
}

/** One task's checkpoint as a barrier captures it. */
export interface TaskState {
  /** Next offset to read per partition: exactly the batches before the barrier. */
  positions: Positions;
  /** Watermark tracker state at the barrier. */
  watermarks: unknown;
  /** Each stateful operator's state as the barrier passed it. */
  operators: Record<string, { stateKey: string; state: unknown }>;
  /** Counters once the barrier passed the last operator (results counted there). */
  counters: Record<string, number>;
}

/** An empty batch at a source position (control events carry one). */
export function emptyBatch(at: RecordBatch['source'], watermark: number): RecordBatch {
  return { rows: [], watermarks: new Float64Array(0), offsets: new Float64Array(0), watermark, source: at };
}

/** Appends `rows` to the event's output `name`. */
export function addOutput(event: StreamEvent, name: string, rows: readonly Row[]): void {
  let list = event.outputs.get(name);
  if (list === undefined) {
    list = [];
    event.outputs.set(name, list);
  }
  for (const row of rows) list.push(row);
}
