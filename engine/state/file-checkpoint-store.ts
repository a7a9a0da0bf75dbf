import { link, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClaimLostError, ExternalError, JobAlreadyRunningError, StateIncompatibleError } from '../core/errors';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import { describeHolder, holderIsGone, thisInstance, type InstanceIdentity } from './instance';

/**
 * Checkpoints as one JSON file per job in a local directory (local mode).
 *
 * Steps that make a save atomic and durable:
 *   1. check that this instance still holds the job's claim (`<job>.lock`);
 *   2. write the whole checkpoint to `<job>.json.tmp`;
 *   3. fsync it, so its bytes are on disk before it can become visible;
 *   4. rename over `<job>.json` (atomic on POSIX: readers see old or new, never half);
 *   5. fsync the directory, so the rename itself survives a power cut.
 *
 * The claim is a lock file holding this instance's identity, made whole
 * under another name and then hard-linked into place (which fails if it
 * exists), so no reader ever sees it half written. A lock left by a process of this host that no longer
 * runs (a crash) is taken over; any other is refused.
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly description: string;
  private readonly instance: InstanceIdentity = thisInstance();
  /** Jobs this store claimed (released on close). */
  private readonly claimed = new Set<string>();

  constructor(private readonly dir: string) {
    this.description = `checkpoint directory ${dir}`;
  }

  async claim(job: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = this.lockOf(job);
    const draft = `${path}.${this.instance.id}`;
    await writeFile(draft, JSON.stringify(this.instance));
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await link(draft, path);
          this.claimed.add(job);
          return;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
            throw new ExternalError(`cannot claim job '${job}' in ${this.dir}: ${(error as Error).message}`, { retriable: false, cause: error });
          }
        }
        const holder = await this.holderOf(job);
        if (holder?.id === this.instance.id) {
          this.claimed.add(job);
          return;
        }
        if (holder !== null && !holderIsGone(holder)) {
          throw new JobAlreadyRunningError(
            `job '${job}' is already running: the instance on ${describeHolder(holder)} holds ${path}. ` +
              `Two instances of one job would overwrite each other's checkpoints and results; stop that one first ` +
              `(or, if it no longer runs, delete ${path}).`,
          );
        }
        // Its holder crashed (or the file is unreadable): take it over. Should another instance do the same at
        // this moment, step 1 of `save` lets only the one named in the file write.
        await rm(path, { force: true });
      }
    } finally {
      await rm(draft, { force: true });
    }
    throw new JobAlreadyRunningError(`job '${job}': another instance claimed ${path} at the same moment; run again once it stopped`);
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

  async list(prefix: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((name) => name.endsWith('.json'))
      .map((name) => decodeURIComponent(name.slice(0, -'.json'.length)))
      .filter((key) => key.startsWith(prefix))
      .sort();
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    await this.assertHolding(checkpoint.job);
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
    await this.assertHolding(job);
    await rm(this.pathOf(job), { force: true });
  }

  /** Lets go of `job` now (its state is saved). */
  async release(job: string): Promise<void> {
    if (!this.claimed.delete(job)) return;
    const holder = await this.holderOf(job);
    if (holder?.id === this.instance.id) await rm(this.lockOf(job), { force: true });
  }

  async close(): Promise<void> {
    for (const job of this.claimed) {
      const holder = await this.holderOf(job);
      if (holder?.id === this.instance.id) await rm(this.lockOf(job), { force: true });
    }
    this.claimed.clear();
  }

  /** Stores that never claimed the job (tools reading checkpoints) claim it before they write. */
  private async assertHolding(job: string): Promise<void> {
    if (!this.claimed.has(job)) return this.claim(job);
    const holder = await this.holderOf(job);
    if (holder?.id !== this.instance.id) {
      throw new ClaimLostError(
        `job '${job}' is no longer held by this instance (${holder ? `now: ${describeHolder(holder)}` : `${this.lockOf(job)} was removed`}); ` +
          `stopping without writing a checkpoint`,
      );
    }
  }

  private async holderOf(job: string): Promise<InstanceIdentity | null> {
    try {
      return JSON.parse(await readFile(this.lockOf(job), 'utf8')) as InstanceIdentity;
    } catch {
      return null;
    }
  }

  /** A job's files; a task's key (`<job>/<partition>`) is escaped into one file name. */
  private pathOf(job: string): string {
    return join(this.dir, `${encodeURIComponent(job)}.json`);
  }

  private lockOf(job: string): string {
    return join(this.dir, `${encodeURIComponent(job)}.lock`);
  }
}
