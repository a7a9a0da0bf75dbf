// A job run as tasks, one per partition: its results must not depend on how
// partitions moved between instances. Property: for any history of runs, each
// holding some partitions, reading some batches, giving partitions up and
// getting others, stopping, the results upserted by (key, window) equal one
// uninterrupted run over everything.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadJobFile } from '../jobfile/load';
import type { JobSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import type { Positions, Source, TaskHandler } from '../core/source';
import { MemorySink } from '../sinks/memory-sink';
import { MemoryCheckpointStore } from '../state/memory-checkpoint-store';
import { runJob } from './run-job';
import { StateIncompatibleError } from '../core/errors';
import type { Sink } from '../core/sink';
import { createOperators } from '../jobfile/components';

const PARTITIONS = ['tides/0', 'tides/1', 'tides/2'];
const T0 = Date.UTC(2024, 0, 1);
const SIX_MINUTES = 6 * 60_000;

/** What one scripted instance does, in order. */
type Action = { assign: string[] } | { revoke: string[] } | { deliver: string; records: number } | { pauseMs: number } | { after: Promise<void> };

/**
 * A consumer group as the runtime sees it, scripted: partitions are assigned
 * and taken away, and batches of a partition are read from where its task
 * said. Like the Kafka source, it waits for nothing of the runtime's but the
 * positions of newly assigned partitions. A bounded run, like the Kafka
 * source's, says which batch ends a partition (or that one assigned has
 * nothing left) and, its script done, ends only once every partition is
 * finished wherever it ran.
 */
class ScriptedGroup implements Source {
  readonly description = 'scripted consumer group';
  readonly sharesPartitions = true;
  private handler: TaskHandler | null = null;
  private readonly next = new Map<string, number>();

  constructor(
    private readonly data: ReadonlyMap<string, Row[]>,
    private readonly actions: Action[],
    private readonly onEnd: () => void,
    /** Called once partitions were let go of (their tasks saved): another instance may take them. */
    private readonly onRevoked: (partitions: string[]) => void = () => {},
    private readonly bounded = false,
  ) {}

  setTaskHandler(handler: TaskHandler): void {
    this.handler = handler;
  }

  async *batches(from: Positions): AsyncGenerator<RawBatch> {
    // Run as one task (no handler): every partition starts where the job's checkpoint says.
    this.handler ??= { assigned: async () => from, revoked: async () => {} };
    const assigned = new Set<string>();
    for (const action of this.actions) {
      if ('assign' in action) {
        const fresh = action.assign.filter((partition) => !assigned.has(partition));
        const positions = await this.handler!.assigned(fresh);
        for (const partition of fresh) {
          assigned.add(partition);
          this.next.set(partition, positions[partition] ?? 0);
          if (this.bounded && this.next.get(partition)! >= this.data.get(partition)!.length) this.handler!.ended?.(partition);
        }
      } else if ('after' in action) {
        // Another instance, running at the same time, must let a partition go first.
        await action.after;
      } else if ('pauseMs' in action) {
        // The group still forming (a dead member's session running out): nothing assigned, nothing read.
        await new Promise((resolve) => setTimeout(resolve, action.pauseMs));
      } else if ('revoke' in action) {
        const gone = action.revoke.filter((partition) => assigned.has(partition));
        for (const partition of gone) assigned.delete(partition);
        await this.handler!.revoked(gone);
        this.onRevoked(gone);
      } else if (assigned.has(action.deliver)) {
        const rows = this.data.get(action.deliver)!;
        const from = this.next.get(action.deliver)!;
        const to = Math.min(rows.length, from + action.records);
        if (to === from) continue;
        this.next.set(action.deliver, to);
        const ends = this.bounded && to === rows.length ? { endsPartition: true } : {};
        yield { rows: rows.slice(from, to), offsets: Float64Array.from({ length: to - from }, (_, i) => from + i), source: { partition: action.deliver, fromOffset: from, toOffset: to }, ...ends };
      }
    }
    if (this.bounded && this.handler!.unfinishedPartition) {
      const ends = Object.fromEntries([...this.data].map(([partition, rows]) => [partition, rows.length]));
      while ((await this.handler!.unfinishedPartition(ends)) !== null) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    this.onEnd();
  }

  owns(partition: string): boolean {
    return this.next.has(partition);
  }

  async close(): Promise<void> {}
}

/** Readings every 6 minutes per station, a few stations per partition, with the poller's repeats. */
function partitionData(): Map<string, Row[]> {
  const data = new Map<string, Row[]>();
  PARTITIONS.forEach((partition, p) => {
    const rows: Row[] = [];
    for (let i = 0; i < 120; i++) {
      for (let s = 0; s < 2; s++) {
        const station = `station-${p}-${s}`;
        const row = { station, name: station, lat: 40, lon: -70, t: T0 + i * SIX_MINUTES, v: Math.sin(i / 7 + p + s), s: null, f: null, q: null };
        rows.push(row);
        if (i % 9 === 0) rows.push({ ...row });
      }
    }
    data.set(partition, rows);
  });
  return data;
}

/**
 * The 30-minute averages without their dedupe step: a record read twice (a
 * position restored wrongly) counts twice, so nothing hides a replay.
 */
function job(): JobSpec {
  const spec = loadJobFile(join(__dirname, '..', '..', '..', 'jobs', 'tides-30m-average.yaml'));
  return { ...spec, steps: spec.steps.filter((step) => step.kind === 'window'), checkpoint: { kind: 'file', dir: 'unused', intervalMs: 0 } };
}

/** Results as a table keyed by (station, window_start): what upserts into Cassandra leave. */
function table(sink: MemorySink, into = new Map<string, string>()): Map<string, string> {
  for (const row of sink.rows) into.set(`${row.station as string}|${(row.window_start as Date).toISOString()}`, JSON.stringify(row));
  return into;
}

async function runInstance(
  spec: JobSpec,
  store: MemoryCheckpointStore,
  data: Map<string, Row[]>,
  actions: Action[],
  end: boolean,
  results: Map<string, string>,
  onRevoked?: (partitions: string[]) => void,
): Promise<void> {
  const stop = new AbortController();
  const main = new MemorySink();
  const source = new ScriptedGroup(
    data,
    actions,
    () => {
      // A streaming instance stops (windows stay open in its checkpoints); the last one reads to the end.
      if (!end) stop.abort();
    },
    onRevoked,
    end,
  );
  await runJob(
    { job: spec, source, sinks: new Map([['main', main], ['late', new MemorySink()], ['dead-letters', new MemorySink()]]), checkpoints: store, clearCheckpointOnCompletion: false, operators: () => createOperators(spec) },
    { signal: stop.signal },
  );
  table(main, results);
}

test('property: results are the same for any history of partitions moving between instances', { timeout: 300_000 }, async () => {
  const spec = job();
  const data = partitionData();
  // One instance, every partition, read to the end in batches of 50.
  const reference = new Map<string, string>();
  const whole: Action[] = [{ assign: PARTITIONS }, ...PARTITIONS.flatMap((partition) => Array.from({ length: 6 }, () => ({ deliver: partition, records: 50 })))];
  await runInstance(spec, new MemoryCheckpointStore(), data, whole, true, reference);
  assert.ok(reference.size > 100);

  const partition = fc.constantFrom(...PARTITIONS);
  const action: fc.Arbitrary<Action> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ deliver: partition, records: fc.integer({ min: 1, max: 60 }) }) },
    { weight: 1, arbitrary: fc.record({ assign: fc.subarray(PARTITIONS, { minLength: 1 }) }) },
    { weight: 1, arbitrary: fc.record({ revoke: fc.subarray(PARTITIONS, { minLength: 1 }) }) },
  );
  const instance = fc.record({ initial: fc.subarray(PARTITIONS, { minLength: 1 }), actions: fc.array(action, { maxLength: 12 }) });
  await fc.assert(
    fc.asyncProperty(fc.array(instance, { minLength: 1, maxLength: 5 }), async (instances) => {
      const store = new MemoryCheckpointStore();
      const results = new Map<string, string>();
      for (const { initial, actions } of instances) await runInstance(spec, store, data, [{ assign: initial }, ...actions], false, results);
      // The last instance gets every partition and reads to the end.
      await runInstance(spec, store, data, whole, true, results);
      assert.deepEqual(results, reference);
    }),
    { numRuns: 25 },
  );
});

/**
 * Threads of one process (`--workers N`) are instances running at the same
 * time. A script over the partitions, in one global order: batches of a
 * partition, read by the thread that owns it then, and hand-overs (the owner
 * lets the partition go; the new one takes it after that). Each thread runs
 * its share of the script concurrently with the others and reads its last
 * partitions to the end.
 */
test('property: results are the same on 1, 2 or 3 threads at once, for any hand-over of partitions between them', { timeout: 300_000 }, async () => {
  const spec = job();
  const data = partitionData();
  const reference = new Map<string, string>();
  const whole: Action[] = [{ assign: PARTITIONS }, ...PARTITIONS.flatMap((partition) => Array.from({ length: 6 }, () => ({ deliver: partition, records: 50 })))];
  await runInstance(spec, new MemoryCheckpointStore(), data, whole, true, reference);

  const step = fc.record({ partition: fc.integer({ min: 0, max: PARTITIONS.length - 1 }), records: fc.integer({ min: 1, max: 80 }), moveTo: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }) });
  const schedule = fc.record({
    threads: fc.integer({ min: 1, max: 3 }),
    owners: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: PARTITIONS.length, maxLength: PARTITIONS.length }),
    steps: fc.array(step, { maxLength: 24 }),
  });
  await fc.assert(
    fc.asyncProperty(schedule, async ({ threads, owners, steps }) => {
      const owner = owners.map((thread) => thread % threads);
      const actions: Action[][] = Array.from({ length: threads }, (_, thread) => [{ assign: PARTITIONS.filter((_, p) => owner[p] === thread) }]);
      const released = new Map<string, () => void>();
      for (const { partition: p, records, moveTo } of steps) {
        const partition = PARTITIONS[p];
        if (moveTo !== undefined && moveTo % threads !== owner[p]) {
          let signal!: () => void;
          const letGo = new Promise<void>((resolve) => (signal = resolve));
          const id = `${partition}#${released.size}`;
          released.set(id, signal);
          actions[owner[p]].push({ revoke: [partition] });
          owner[p] = moveTo % threads;
          actions[owner[p]].push({ after: letGo }, { assign: [partition] });
        }
        actions[owner[p]].push({ deliver: partition, records });
      }
      // Each thread reads the partitions it ends with to the end.
      for (const [p, partition] of PARTITIONS.entries()) actions[owner[p]].push({ deliver: partition, records: 10_000 });
      const store = new MemoryCheckpointStore();
      const results = new Map<string, string>();
      const pending = new Map<string, Array<() => void>>();
      for (const [id, signal] of released) {
        const partition = id.split('#')[0];
        pending.set(partition, [...(pending.get(partition) ?? []), signal]);
      }
      // A revoke completes the oldest pending hand-over of its partition (a partition's hand-overs happen in order).
      const onRevoked = (partitions: string[]) => {
        for (const partition of partitions) pending.get(partition)?.shift()?.();
      };
      await Promise.all(actions.map((script) => runInstance(spec, store, data, script, true, results, onRevoked)));
      assert.deepEqual(results, reference);
    }),
    { numRuns: 40 },
  );
});

/** A local file, as the runtime sees it: rows in order, cut back to the checkpointed length on a restart. */
class FileLikeSink implements Sink {
  readonly description = 'out.jsonl';
  rows: Row[] = [];
  private flushed = 0;
  async open(resume?: unknown): Promise<void> {
    this.rows = this.rows.slice(0, typeof resume === 'number' ? resume : 0);
    this.flushed = this.rows.length;
  }
  async write(rows: Row[]): Promise<void> {
    this.rows.push(...rows);
  }
  async flush(): Promise<void> {
    this.flushed = this.rows.length;
  }
  position(): unknown {
    return this.flushed;
  }
  async close(): Promise<void> {}
}

test('a job writing a local file runs as one task: one checkpoint, exact across a restart; per-partition checkpoints are refused', async () => {
  const spec = job();
  const data = partitionData();
  const whole: Action[] = [{ assign: PARTITIONS }, ...PARTITIONS.flatMap((partition) => Array.from({ length: 6 }, () => ({ deliver: partition, records: 50 })))];
  const reference = new Map<string, string>();
  await runInstance(spec, new MemoryCheckpointStore(), data, whole, true, reference);

  const store = new MemoryCheckpointStore();
  const file = new FileLikeSink();
  const run = async (actions: Action[], end: boolean) => {
    const stop = new AbortController();
    const source = new ScriptedGroup(data, actions, () => {
      if (!end) stop.abort();
    });
    const sinks = new Map<string, Sink>([['main', file], ['late', new MemorySink()], ['dead-letters', new MemorySink()]]);
    return runJob({ job: spec, source, sinks, checkpoints: store, clearCheckpointOnCompletion: false, operators: () => createOperators(spec) }, { signal: stop.signal });
  };
  // Half of two partitions, then a stop (a checkpoint of the whole job), then the rest.
  const first = await run([{ assign: PARTITIONS }, ...[PARTITIONS[0], PARTITIONS[2]].map((partition) => ({ deliver: partition, records: 150 }))], false);
  // Partitions read one after another: the later ones' first records are not late (the task knew of them).
  assert.equal(first.counters.late, 0);
  assert.deepEqual(await store.list(''), [spec.job]);
  // Rows written after the checkpoint are cut off on the restart, then written again.
  file.rows.push({ station: 'not checkpointed' });
  // Restarted, the group takes a while to assign the partitions: the watermark must wait for the one the checkpoint never saw.
  const second = await run([{ pauseMs: 300 }, ...whole], true);
  assert.equal(second.counters.late, 0);
  const results = new Map<string, string>();
  for (const row of file.rows) results.set(`${row.station as string}|${(row.window_start as Date).toISOString()}`, JSON.stringify(row));
  assert.equal(results.size, file.rows.length, 'no result written twice');
  assert.deepEqual(results, reference);

  // Checkpoints of single partitions cannot become one of the whole job.
  const tasks = new MemoryCheckpointStore();
  await runInstance(spec, tasks, data, [{ assign: PARTITIONS }, { deliver: PARTITIONS[0], records: 10 }], false, new Map());
  await assert.rejects(
    runJob(
      {
        job: spec,
        source: new ScriptedGroup(data, [{ assign: PARTITIONS }], () => {}),
        sinks: new Map<string, Sink>([['main', new FileLikeSink()], ['late', new MemorySink()], ['dead-letters', new MemorySink()]]),
        checkpoints: tasks,
        clearCheckpointOnCompletion: false,
        operators: () => createOperators(spec),
      },
      {},
    ),
    (error: unknown) => error instanceof StateIncompatibleError && /checkpoints per Kafka partition \(tides-30m-average\/tides\/0/.test(error.message) && /--reset-state/.test(error.message),
  );
});
