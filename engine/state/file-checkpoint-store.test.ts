import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClaimLostError, JobAlreadyRunningError } from '../core/errors';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint } from './checkpoint';
import { FileCheckpointStore } from './file-checkpoint-store';

function checkpoint(job: string, epoch: number): Checkpoint {
  return {
    job,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    epoch,
    createdAt: new Date(0).toISOString(),
    positions: { 'file:x': epoch },
    watermarks: null,
    operators: {},
    sinks: {},
    counters: {},
  };
}

/** The pid of a process that ran and exited: a holder known to be gone. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

test('a second instance of a job is refused while the first holds it, and may claim it once the first closed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-claim-'));
  const first = new FileCheckpointStore(dir);
  const second = new FileCheckpointStore(dir);
  await first.claim('tides');
  await first.claim('tides');
  await assert.rejects(second.claim('tides'), (error: unknown) => {
    assert.ok(error instanceof JobAlreadyRunningError);
    assert.match(error.message, new RegExp(`^job 'tides' is already running: the instance on host '${hostname()}' \\(pid ${process.pid}\\) since `));
    assert.match(error.message, /stop that one first \(or, if it no longer runs, delete .*tides\.lock\)\.$/);
    return true;
  });
  // Another job in the same directory is not affected.
  await second.claim('other');
  await first.save(checkpoint('tides', 1));
  await first.close();
  assert.equal(existsSync(join(dir, 'tides.lock')), false, 'closing releases the claim');
  await second.claim('tides');
  assert.deepEqual(await second.load('tides'), checkpoint('tides', 1));
  await second.close();
});

test('a claim left by a crashed process of this host is taken over; one of a live process or another host is not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-claim-'));
  const lock = join(dir, 'tides.lock');
  writeFileSync(lock, JSON.stringify({ id: 'crashed', host: hostname(), pid: deadPid(), since: '2026-01-01T00:00:00.000Z' }));
  const store = new FileCheckpointStore(dir);
  await store.claim('tides');
  assert.notEqual(JSON.parse(readFileSync(lock, 'utf8')).id, 'crashed');
  await store.close();

  writeFileSync(lock, JSON.stringify({ id: 'elsewhere', host: 'another-host', pid: deadPid(), since: '2026-01-01T00:00:00.000Z' }));
  await assert.rejects(new FileCheckpointStore(dir).claim('tides'), /the instance on host 'another-host'/);
});

test('an instance whose claim was taken over cannot save or clear: ClaimLostError, the newer checkpoint stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-claim-'));
  const paused = new FileCheckpointStore(dir);
  await paused.claim('tides');
  await paused.save(checkpoint('tides', 1));
  // The operator deleted the lock of an instance that looked dead; a new one claimed the job.
  writeFileSync(join(dir, 'tides.lock'), JSON.stringify({ id: 'newer', host: 'another-host', pid: 1, since: '2026-01-01T00:00:00.000Z' }));
  writeFileSync(join(dir, 'tides.json'), JSON.stringify(checkpoint('tides', 7)));
  await assert.rejects(paused.save(checkpoint('tides', 2)), (error: unknown) => {
    assert.ok(error instanceof ClaimLostError);
    assert.match(error.message, /^job 'tides' is no longer held by this instance \(now: host 'another-host' \(pid 1\)/);
    return true;
  });
  await assert.rejects(paused.clear('tides'), ClaimLostError);
  assert.equal((await paused.load('tides'))?.epoch, 7);
  await paused.close();
  assert.equal(existsSync(join(dir, 'tides.lock')), true, 'closing leaves a claim that is not its own');
});
