import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ExternalError, StateIncompatibleError } from '../errors';
import type { Checkpoint, CheckpointStore } from './checkpoint';

/**
 * Checkpoints as one JSON file per job in a local directory (local mode).
 *
 * Steps that make a save atomic and durable:
 *   1. write the whole checkpoint to `<job>.json.tmp`;
 *   2. fsync it, so its bytes are on disk before it can become visible;
 *   3. rename over `<job>.json` (atomic on POSIX: readers see old or new, never half);
 *   4. fsync the directory, so the rename itself survives a power cut.
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly description: string;

  constructor(private readonly dir: string) {
    this.description = `checkpoint directory ${dir}`;
  }

  async load(job: string): Promise<Checkpoint | null> {
    let text: string;
    try {
      text = await readFile(this.pathOf(job), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ExternalError(`cannot read checkpoint ${this.pathOf(job)}: ${(error as Error).message}`, { retriable: false, cause: error });
    }
    try {
      return JSON.parse(text) as Checkpoint;
    } catch {
      throw new StateIncompatibleError(
        `checkpoint ${this.pathOf(job)} is not valid JSON; run with --reset-state to start fresh`,
      );
    }
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.pathOf(checkpoint.job);
    const temporary = `${target}.tmp`;
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(JSON.stringify(checkpoint));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, target);
    const directory = await open(this.dir, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  async clear(job: string): Promise<void> {
    await rm(this.pathOf(job), { force: true });
  }

  async close(): Promise<void> {}

  private pathOf(job: string): string {
    return join(this.dir, `${job}.json`);
  }
}
