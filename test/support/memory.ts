import type { JobSpec } from '../../engine/config/job';
import type { RawBatch, Row } from '../../engine/core/batch';
import { JobParts } from '../../engine/runtime/run-job';
import type { Sink } from '../../engine/core/sink';
import type { Positions, Source } from '../../engine/core/source';
import type { Checkpoint, CheckpointStore } from '../../engine/state/checkpoint';
import { createOperators } from '../../engine/jobfile/components';

/** Rows from memory, cut into batches of the given sizes (cycled), one partition. */
export class MemorySource implements Source {
  readonly description = 'memory';
  constructor(
    private readonly rows: Row[],
    private readonly sizes: number[] = [1000],
    private readonly partition = 'memory',
  ) {}

  async *batches(from: Positions): AsyncIterable<RawBatch> {
    let offset = from[this.partition] ?? 0;
    for (let k = 0; offset < this.rows.length; k++) {
      const size = Math.max(1, this.sizes[k % this.sizes.length]);
      const rows = this.rows.slice(offset, offset + size);
      const offsets = Float64Array.from(rows, (_, i) => offset + i);
      yield { rows, offsets, source: { partition: this.partition, fromOffset: offset, toOffset: offset + rows.length } };
      offset += rows.length;
    }
  }

  async close(): Promise<void> {}
}

/** Collects rows in memory. */
export class MemorySink implements Sink {
  readonly description = 'memory';
  rows: Row[] = [];
  async open(): Promise<void> {}
  async write(rows: Row[]): Promise<void> {
    this.rows.push(...rows);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export class MemoryCheckpointStore implements CheckpointStore {
  readonly description = 'memory';
  saved = new Map<string, string>();
  async claim(): Promise<void> {}
  async list(prefix: string): Promise<string[]> {
    return [...this.saved.keys()].filter((key) => key.startsWith(prefix)).sort();
  }
  async load(job: string): Promise<Checkpoint | null> {
    const text = this.saved.get(job);
    return text ? (JSON.parse(text) as Checkpoint) : null;
  }
  async save(checkpoint: Checkpoint): Promise<void> {
    this.saved.set(checkpoint.job, JSON.stringify(checkpoint));
  }
  async clear(job: string): Promise<void> {
    this.saved.delete(job);
  }
  async close(): Promise<void> {}
}

/** A job wired to memory: returns the parts and the sinks to inspect afterwards. */
export function memoryParts(job: JobSpec, rows: Row[], sizes: number[], store = new MemoryCheckpointStore()) {
  const main = new MemorySink();
  const late = new MemorySink();
  const deadLetters = new MemorySink();
  const sinks = new Map<string, Sink>([
    ['main', main],
    ['late', late],
    ['dead-letters', deadLetters],
  ]);
  for (const name of Object.keys(job.sinks)) sinks.set(name, new MemorySink());
  const parts: JobParts = {
    job,
    source: new MemorySource(rows, sizes),
    sinks,
    checkpoints: store,
    clearCheckpointOnCompletion: false,
    operators: () => createOperators(job),
  };
  return { parts, main, late, deadLetters, store };
}
