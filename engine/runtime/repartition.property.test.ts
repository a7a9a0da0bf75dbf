// A job with a repartition step runs as two stages joined by an internal
// topic (jobfile/stages.ts). Property: whatever the first stage sent twice
// (restarts from its checkpoints), however the origins' envelopes interleave
// in each internal partition, however the second stage's partitions moved
// between instances and were cut into batches, the results equal the job run
// as one task over every record, with no record late.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadJobFile } from '../jobfile/load';
import type { JobSpec, RepartitionStepSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import type { Positions, Source, TaskHandler } from '../core/source';
import { MemorySink } from '../sinks/memory-sink';
import { MemoryCheckpointStore } from '../state/memory-checkpoint-store';
import { runJob, type JobParts } from './run-job';
import type { Sink } from '../core/sink';
import { createOperators } from '../jobfile/components';
import { EnvelopeDecoder, encodeEnvelope, isEnvelopeRow, type EnvelopeRow } from '../codecs/repartition-envelope';
import { UpstreamWatermarks } from './upstream-watermarks';

const ORIGINS = ['tides/0', 'tides/1', 'tides/2'];
const INTERNAL = ['internal/0', 'internal/1'];
const STATIONS = ['8454000', '8443970', '8418150', '8447930', '8452660'];
const T0 = Date.UTC(2024, 0, 1);
const SIX_MINUTES = 6 * 60_000;

/**
 * Readings every 6 minutes per station, spread over the origin partitions by
 * time, not by station (a topic keyed by something else); a poller's repeat of
 * a reading lands in another partition than the reading.
 */
function originData(): Map<string, Row[]> {
  const data = new Map<string, Row[]>(ORIGINS.map((origin) => [origin, []]));
  for (let i = 0; i < 100; i++) {
    STATIONS.forEach((station, s) => {
      const row = { station, name: station, lat: 40, lon: -70, t: T0 + i * SIX_MINUTES, v: Math.round(1000 * Math.sin(i / 7 + s)) / 1000, s: null, f: null, q: null };
      data.get(ORIGINS[(i + s) % ORIGINS.length])!.push(row);
      if (i % 7 === 0) data.get(ORIGINS[(i + s + 1) % ORIGINS.length])!.push({ ...row });
    });
  }
  return data;
}

/** The 30-minute averages (dedupe, then windows), with checkpoints after every batch. */
function job(): JobSpec {
  const spec = loadJobFile(join(__dirname, '..', '..', '..', 'jobs', 'tides-30m-average.yaml'));
  return { ...spec, checkpoint: { kind: 'file', dir: 'unused', intervalMs: 0 } };
}

const REPARTITION: RepartitionStepSpec = { kind: 'repartition', id: 'by-station', by: ['station'], origins: ORIGINS, at: { line: 1, col: 1 } };

/** A consumer group's partitions, as the runtime sees them: assigned all at once, each read in batches of the given sizes. */
class Partitions implements Source {
  readonly description = 'scripted partitions';
  readonly sharesPartitions = true;
  private handler: TaskHandler | null = null;
  ended = new Set<string>();

  constructor(
    private readonly messages: ReadonlyMap<string, Array<Row | string>>,
    private readonly script: Array<{ partition: string; records: number }>,
    private readonly assign: string[],
  ) {}

  setTaskHandler(handler: TaskHandler): void {
    this.handler = handler;
  }

  endPartition(partition: string): void {
    this.ended.add(partition);
  }

  async *batches(): AsyncGenerator<RawBatch> {
    const next = new Map(Object.entries(await this.handler!.assigned(this.assign)));
    for (const { partition, records } of this.script) {
      if (!this.assign.includes(partition)) continue;
      const all = this.messages.get(partition)!;
      const from = next.get(partition) ?? 0;
      const to = Math.min(all.length, from + records);
      if (to === from) continue;
      next.set(partition, to);
      const slice = all.slice(from, to);
      const offsets = Float64Array.from({ length: to - from }, (_, i) => from + i);
      const source = { partition, fromOffset: from, toOffset: to };
      yield typeof slice[0] === 'string' ? { payloads: slice as string[], offsets, source } : { rows: slice as Row[], offsets, source };
    }
  }

  owns(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}

function sinks(main: Sink): Map<string, Sink> {
  return new Map<string, Sink>([['main', main], ['late', new MemorySink()], ['dead-letters', new MemorySink()]]);
}

/** Results as a table keyed by (station, window_start): what upserts into Cassandra leave. */
function table(rows: readonly Row[], into = new Map<string, string>()): Map<string, string> {
  for (const row of rows) into.set(`${row.station as string}|${(row.window_start as Date).toISOString()}`, JSON.stringify(row));
  return into;
}

/** The job as one task over every record, in time order: what any history must give. */
async function reference(spec: JobSpec, data: Map<string, Row[]>): Promise<Map<string, string>> {
  const all = [...data.values()].flat().sort((a, b) => (a.t as number) - (b.t as number));
  const main = new MemorySink();
  const source: Source = {
    description: 'every record',
    async *batches() {
      yield { rows: all, offsets: Float64Array.from(all, (_, i) => i), source: { partition: 'all', fromOffset: 0, toOffset: all.length } };
    },
    async close() {},
  };
  await runJob({ job: spec, source, sinks: sinks(main), checkpoints: new MemoryCheckpointStore(), clearCheckpointOnCompletion: false, operators: () => createOperators(spec) });
  return table(main.rows);
}

/** Stage 1 run once, batches of the given size: what each origin's task sent, in order. */
async function firstStage(spec: JobSpec, data: Map<string, Row[]>, batch: number): Promise<Map<string, EnvelopeRow[]>> {
  const first: JobSpec = { ...spec, steps: [REPARTITION] };
  const main = new MemorySink();
  const script = ORIGINS.flatMap((partition) => Array.from({ length: Math.ceil(data.get(partition)!.length / batch) }, () => ({ partition, records: batch })));
  await runJob({
    job: first,
    source: new Partitions(data, script, ORIGINS),
    sinks: sinks(main),
    checkpoints: new MemoryCheckpointStore(),
    clearCheckpointOnCompletion: false,
    operators: () => createOperators(first),
  });
  const sent = new Map<string, EnvelopeRow[]>(ORIGINS.map((origin) => [origin, []]));
  for (const row of main.rows) {
    assert.ok(isEnvelopeRow(row));
    sent.get(row.origin)!.push(row);
  }
  return sent;
}

/** An internal partition of a station, as a producer keying by station would pick it. */
function partitionOf(station: string): string {
  let hash = 0;
  for (const char of station) hash = (hash * 31 + char.charCodeAt(0)) | 0;
  return INTERNAL[Math.abs(hash) % INTERNAL.length];
}

test('property: a repartitioned job equals the job as one task, for any replays, interleaving, batches and hand-overs', { timeout: 300_000 }, async () => {
  const spec = job();
  const data = originData();
  const expected = await reference(spec, data);
  assert.equal(expected.size, 100, "20 half hours of 5 stations");
  const second: JobSpec = { ...spec, job: `${spec.job}.by-station` };

  const schedule = fc.record({
    firstBatch: fc.integer({ min: 7, max: 80 }),
    lastBatch: fc.integer({ min: 5, max: 300 }),
    // Per origin: a restart after sending `crash` messages, from the checkpoint `back` messages before.
    replays: fc.array(fc.record({ crash: fc.nat(), back: fc.nat({ max: 40 }) }), { minLength: ORIGINS.length, maxLength: ORIGINS.length }),
    // Which origin's next messages each internal partition takes next, and how many: one origin may run far ahead.
    interleave: fc.array(fc.record({ origin: fc.nat({ max: ORIGINS.length - 1 }), run: fc.integer({ min: 1, max: 150 }) }), { minLength: 3, maxLength: 40 }),
    // Instances of stage 2: the partitions each holds, batches read, before it stops.
    instances: fc.array(fc.record({ hold: fc.subarray(INTERNAL, { minLength: 1 }), batches: fc.array(fc.record({ partition: fc.constantFrom(...INTERNAL), records: fc.integer({ min: 1, max: 90 }) }), { maxLength: 10 }) }), { maxLength: 4 }),
  });
  await fc.assert(
    fc.asyncProperty(schedule, async ({ firstBatch, lastBatch, replays, interleave, instances }) => {
      const sent = await firstStage(spec, data, firstBatch);
      // What each origin's task sent, with its restart's repeats: [0, crash) then again from crash - back.
      const perOrigin = ORIGINS.map((origin, o) => {
        const messages = sent.get(origin)!;
        const crash = replays[o].crash % (messages.length + 1);
        return [...messages.slice(0, crash), ...messages.slice(Math.max(0, crash - replays[o].back))];
      });
      // Into the internal partitions: rows by key, marks to every partition; origins interleaved at random.
      const messages = new Map<string, string[]>(INTERNAL.map((partition) => [partition, []]));
      for (const partition of INTERNAL) {
        const queues = perOrigin.map((list) => list.filter((message) => message.__repartition === 'mark' || partitionOf((message as { row: Row }).row.station as string) === partition));
        const out = messages.get(partition)!;
        let turn = 0;
        while (queues.some((queue) => queue.length > 0)) {
          const { origin, run } = interleave[turn++ % interleave.length];
          let o = origin;
          while (queues[o].length === 0) o = (o + 1) % queues.length;
          for (const message of queues[o].splice(0, run)) out.push(encodeEnvelope(message));
        }
      }
      const store = new MemoryCheckpointStore();
      const results = new Map<string, string>();
      const runSecond = async (hold: string[], script: Array<{ partition: string; records: number }>, end: boolean) => {
        const main = new MemorySink();
        const late = new MemorySink();
        const stop = new AbortController();
        const source = new Partitions(messages, script, hold);
        const parts: JobParts = {
          job: second,
          source,
          decoder: new EnvelopeDecoder(),
          sinks: new Map<string, Sink>([['main', main], ['late', late], ['dead-letters', new MemorySink()]]),
          checkpoints: store,
          clearCheckpointOnCompletion: false,
          operators: () => createOperators(second),
          upstream: { origins: ORIGINS },
        };
        const batches = source.batches.bind(source);
        source.batches = async function* () {
          yield* batches();
          if (!end) stop.abort();
        };
        const result = await runJob(parts, { signal: stop.signal });
        table(main.rows, results);
        assert.equal(late.rows.length, 0, 'no record is late');
        return { result, source };
      };
      for (const { hold, batches } of instances) await runSecond(hold, batches, false);
      // The last instance reads every partition to its end, the partitions taking turns.
      const longest = Math.max(...[...messages.values()].map((list) => list.length));
      const rest = Array.from({ length: Math.ceil(longest / lastBatch) }, () => INTERNAL.map((partition) => ({ partition, records: lastBatch }))).flat();
      const last = await runSecond(INTERNAL, rest, true);
      assert.deepEqual(results, expected);
      // Every origin ended in every partition: a bounded second stage knows it is done.
      assert.deepEqual([...last.source.ended].sort(), INTERNAL);
      // Each record counted once, whatever was sent twice.
      const records = [...data.values()].reduce((sum, rows) => sum + rows.length, 0);
      assert.equal(last.result.counters.recordsIn, records);
    }),
    { numRuns: 40 },
  );
});

test('upstream watermarks: the smallest over the origins; an origin holds it back until it reports, ends or goes idle', () => {
  let now = 0;
  const tracker = new UpstreamWatermarks('t', 10, 1000, () => now, ['a', 'b'], 'q');
  const out = new Float64Array(2);
  const upstream = (origins: string[], offsets: number[], marks: Array<{ before: number; origin: string; watermark: number }> = []) => ({
    origins,
    originOffsets: Float64Array.from(offsets),
    watermarks: Float64Array.from(origins, () => 5),
    marks,
  });
  tracker.admit('q', [{ t: 100 }, { t: 200 }], upstream(['a', 'a'], [0, 1]), out);
  assert.equal(tracker.watermark, Number.NEGATIVE_INFINITY, 'b has not reported');
  assert.deepEqual([...out], [5, 5], 'each row judged by the watermark it arrived under upstream');
  tracker.admit('q', [], upstream([], [], [{ before: 0, origin: 'b', watermark: 150 }]), out);
  assert.equal(tracker.watermark, 150);
  const replay = tracker.admit('q', [{ t: 100 }, { t: 300 }], upstream(['a', 'a'], [1, 2]), out);
  assert.equal(replay.replays, 1);
  assert.deepEqual([...replay.keep!], [0, 1]);
  // Saved and restored: the offsets seen and the ended origins come back.
  tracker.admit('q', [], upstream([], [], [{ before: 0, origin: 'b', watermark: Number.POSITIVE_INFINITY }]), out);
  assert.equal(tracker.watermark, 290);
  const restored = new UpstreamWatermarks('t', 10, 1000, () => now, ['a', 'b'], 'q');
  restored.restore(JSON.parse(JSON.stringify(tracker.snapshot())));
  assert.equal(restored.admit('q', [{ t: 300 }], upstream(['a'], [2]), out).replays, 1);
  assert.equal(restored.allEnded('q'), false);
  restored.admit('q', [], upstream([], [], [{ before: 0, origin: 'a', watermark: Number.POSITIVE_INFINITY }]), out);
  assert.equal(restored.allEnded('q'), true);
  // A silent origin stops holding the watermark back after the idle timeout.
  const idle = new UpstreamWatermarks('t', 10, 1000, () => now, ['a', 'b'], 'q');
  idle.admit('q', [{ t: 500 }], upstream(['a'], [0]), out);
  assert.equal(idle.watermark, Number.NEGATIVE_INFINITY);
  now = 2000;
  assert.equal(idle.tick(), 490);
});
