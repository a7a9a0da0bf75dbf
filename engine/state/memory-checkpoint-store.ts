import type { Checkpoint, CheckpointStore } from './checkpoint';

/**
 * Checkpoints held in this process only (the test driver; jobs that need no
 * recovery). One instance claims a job at a time, as with the other stores.
 */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly description = 'memory';
  private readonly saved = new Map<string, string>();

  async claim(): Promise<void> {}

  async load(job: string): Promise<Checkpoint | null> {
    const text = this.saved.get(job);
    return text === undefined ? null : (JSON.parse(text) as Checkpoint);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.saved.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    this.saved.set(checkpoint.job, JSON.stringify(checkpoint));
  }

  async clear(job: string): Promise<void> {
    this.saved.delete(job);
  }

  async close(): Promise<void> {}
}
