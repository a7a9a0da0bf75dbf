import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StateIncompatibleError } from '../core/errors';
import type { Operator } from '../core/operator';
import { emptyCounters } from '../core/operator';
import { CHECKPOINT_FORMAT_VERSION } from '../state/checkpoint';
import { FileCheckpointStore } from '../state/file-checkpoint-store';
import { Checkpointer } from './checkpointer';
import { WatermarkTracker } from './watermarks';

/** A stateful operator whose state is a number. */
function counter(id: string, stateKey: string): Operator & { value: number } {
  return {
    id,
    stateKey,
    value: 0,
    process: (batch) => batch,
    snapshot() {
      return this.value;
    },
    restore(state) {
      this.value = state as number;
    },
  };
}

const wait = <T>(call: () => Promise<T>) => call();

test('restore checks every stateful step against the state key it was saved under, and reports all mismatches at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-checkpointer-'));
  const store = new FileCheckpointStore(dir);
  await store.claim('job');
  await store.save({
    job: 'job',
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    epoch: 3,
    createdAt: new Date(0).toISOString(),
    positions: { p: 7 },
    watermarks: { current: 5, partitions: { p: 10 } },
    operators: { a: { stateKey: 'kind/v1:a', state: 1 }, b: { stateKey: 'kind/v1:b', state: 2 }, gone: { stateKey: 'x', state: 0 } },
    sinks: {},
    counters: { recordsIn: 9 },
  });
  await store.close();
  const log: string[] = [];
  const tracker = () => new WatermarkTracker('t', 0, 60_000, () => 0);

  // Both steps changed: one error naming both.
  const changedStore = new FileCheckpointStore(dir);
  const changed = new Checkpointer(changedStore, (line) => log.push(line));
  await assert.rejects(
    changed.restore({ key: 'job', operators: [counter('a', 'kind/v2:a'), counter('b', 'kind/v1:other')], tracker: tracker(), counters: emptyCounters() }, { wait }),
    (error: unknown) => {
      assert.ok(error instanceof StateIncompatibleError);
      assert.match(error.message, /step 'a' changed in a way its saved state cannot follow \(saved: kind\/v1:a; now: kind\/v2:a\)\n  step 'b' changed/);
      return true;
    },
  );
  await changedStore.close();

  // Same keys: state, watermarks and counters come back; a new step starts empty, a removed one is noted.
  const a = counter('a', 'kind/v1:a');
  const fresh = counter('new', 'kind/v1:new');
  const counters = emptyCounters();
  const restoredTracker = tracker();
  const same = new Checkpointer(new FileCheckpointStore(dir), (line) => log.push(line));
  const restored = await same.restore({ key: 'job', operators: [a, fresh], tracker: restoredTracker, counters }, { wait });
  assert.deepEqual([restored.positions, restored.resumedFromEpoch, a.value, fresh.value, counters.recordsIn, restoredTracker.watermark], [{ p: 7 }, 3, 1, 0, 9, 5]);
  assert.ok(log.includes("step 'new' has no saved state (new step?): it starts empty"));
  assert.ok(log.includes("saved state of step 'gone' is ignored: the job has no such step any more"));
});
