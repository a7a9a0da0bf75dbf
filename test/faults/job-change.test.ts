/**
 * Job change vs saved state, with the real CLI against real servers:
 *
 *   1. tides-30m-average runs and is killed mid-stream (after its 8th checkpoint): its
 *      checkpoint holds open 30-minute windows;
 *   2. the same job with 1-hour windows is refused: exit code 2, a message
 *      naming the step and saying how to go on (--reset-state), no stack
 *      trace, and the process exits promptly;
 *   3. a compatible change (a stateless filter step added in front) resumes
 *      from the checkpoint and ends exactly where the unchanged job would;
 *   4. the 1-hour job with --reset-state starts fresh from the beginning of
 *      the topic and gives exactly the plain 1-hour computation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { plainAverages, plainDedupe, type Observation } from '../support/plain';
import { compareWithPlain, describeComparison, faultsSize, observationSlice, openFaultRun, runCli, unaccountedOf, type JobName } from './harness';
import { recordOutcome } from './report';

const JOB: JobName = 'tides-30m-average';
const HOUR = 3_600_000;

/** The 30-minute job with 1-hour windows (into its own table, so the two results can be checked apart). */
const hourly = (text: string) => text.replace('size: 30m', 'size: 1h').replace('table: avg_30m', 'table: avg_1h');
/** A stateless filter step in front of the window; it keeps every record (null readings are no-ops for the window anyway). */
const withFilter = (text: string) => text.replace('steps:\n', 'steps:\n  - filter: { when: "v == null or v > -1000" }\n');

/** The 1-hour job's rows: repeats of (station, t) dropped, as its dedupe step does, then 1-hour windows. */
function expectedHourly(input: Observation[]): Array<Record<string, unknown>> {
  return plainAverages(plainDedupe(input), HOUR);
}

test('job change vs state: incompatible change refused (exit 2, names the step), --reset-state starts fresh, a stateless step keeps state', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const run = await openFaultRun('change', t);
  const started = Date.now();
  try {
    const input = await observationSlice(faultsSize() === 'full' ? 2 : 8);
    await run.produce(input);
    const total = await run.topicSize();
    const common = ['--until-end', '--batch-size', '250', '--checkpoint-interval', '200ms'];
    const env = (name: string) => run.env({ FAULTS_GROUP: `faults-change-${name}-${run.id}` });

    // 1. Stop mid-stream (SIGKILL right after the 8th checkpoint, one per batch), with windows open in the checkpoint.
    const original = run.jobFile(JOB);
    const first = await runCli(['run', original, '--until-end', '--batch-size', '250', '--checkpoint-interval', '0ms'], { ...env('first'), TIDEFLOW_TEST_CRASH: 'after-checkpoint-save:8' });
    assert.equal(first.signal, 'SIGKILL', `killed after the 8th checkpoint: ${first.stderr}`);
    const saved = await run.lastCheckpoint(JOB);
    assert.ok(saved && saved.epoch === 8 && saved.counters.recordsIn < total, `stopped mid-stream: ${saved?.counters.recordsIn}/${total}`);

    // 2. Window size 30m -> 1h: refused.
    const hourlyJob = run.jobFile(JOB, hourly, 'hourly.yaml');
    const refused = await runCli(['run', hourlyJob, ...common], env('refused'));
    t.diagnostic(`refused in ${refused.durationMs} ms: ${refused.stderr.trim()}`);
    const afterRefusal = await run.lastCheckpoint(JOB);

    // 3. A stateless filter added: resumes and ends exactly.
    const filtered = run.jobFile(JOB, withFilter, 'with-filter.yaml');
    const compatible = await runCli(['run', filtered, ...common], env('compatible'));
    const compatibleComparison = compareWithPlain(JOB, input, await run.table('avg_30m'));
    const afterCompatible = await run.lastCheckpoint(JOB);

    // 4. The 1-hour job with --reset-state: from the beginning of the topic.
    const reset = await runCli(['run', hourlyJob, ...common, '--reset-state'], env('reset'));
    const hourlyRows = await run.table('avg_1h');
    const hourlyComparison = compareHourly(hourlyRows, expectedHourly(input));
    const afterReset = await run.lastCheckpoint(JOB);

    recordOutcome({
      scenario: 'job change vs state',
      job: JOB,
      faultsInjected: 2,
      faults: ['restart with window size 30m -> 1h (incompatible)', 'restart with a filter step added (compatible)'],
      recordsIn: total,
      resultsExact: compatibleComparison.exact && hourlyComparison.exact,
      lost: compatibleComparison.lost,
      duplicated: compatibleComparison.duplicated,
      recoveryMs: null,
      unaccounted: afterCompatible ? unaccountedOf(JOB, afterCompatible.counters) : Number.NaN,
      notes:
        `incompatible: exit ${refused.code} in ${refused.durationMs} ms ("${refused.stderr.trim().split('\n').slice(0, 2).join(' / ')}"); ` +
        `compatible: exit ${compatible.code}, resumed from epoch ${saved.epoch}, ${describeComparison(compatibleComparison)}; ` +
        `--reset-state: exit ${reset.code}, ${hourlyComparison.detail}.`,
      durationMs: Date.now() - started,
    });

    assert.equal(refused.code, 2, `an incompatible change exits 2: ${refused.stderr}`);
    assert.match(refused.stderr, /step 'avg-30m' changed in a way its saved state cannot follow/);
    assert.match(refused.stderr, /--reset-state/);
    assert.doesNotMatch(refused.stderr, /\n\s+at |internal error/, 'no stack trace');
    assert.ok(refused.durationMs < 30_000, `the refusal exits promptly (${refused.durationMs} ms)`);
    assert.equal(afterRefusal?.epoch, saved.epoch, 'a refused run leaves the checkpoint alone');

    assert.equal(compatible.code, 0, compatible.stderr);
    assert.match(compatible.stderr, new RegExp(`resuming ${JOB} from checkpoints: .*\\(epoch ${saved.epoch}\\)`));
    assert.ok(compatibleComparison.exact, describeComparison(compatibleComparison));
    assert.equal(afterCompatible?.counters.recordsIn, total, 'restored counters + the rest = every record once');
    assert.equal(afterCompatible && unaccountedOf(JOB, afterCompatible.counters), 0);

    assert.equal(reset.code, 0, reset.stderr);
    assert.doesNotMatch(reset.stderr, /resuming/);
    assert.ok(hourlyComparison.exact, hourlyComparison.detail);
    assert.equal(afterReset?.counters.recordsIn, total, '--reset-state reads the topic from the beginning');
    assert.equal(afterReset && unaccountedOf(JOB, afterReset.counters), 0);
  } finally {
    await run.close();
  }
});

function compareHourly(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>): { exact: boolean; detail: string } {
  const key = (row: Record<string, unknown>) => `${String(row.station)}|${String(row.window_start)}`;
  const byKey = new Map(actual.map((row) => [key(row), row]));
  const problems: string[] = [];
  for (const want of expected) {
    const got = byKey.get(key(want));
    if (!got) problems.push(`missing ${key(want)}`);
    else if (got.count !== want.count || got.min !== want.min || got.max !== want.max || got.window_end !== want.window_end || Math.abs((got.avg as number) - (want.avg as number)) > 1e-9) {
      problems.push(`differs ${key(want)}`);
    }
  }
  if (actual.length !== expected.length) problems.push(`${actual.length} rows, expected ${expected.length}`);
  return { exact: problems.length === 0, detail: `1-hour table ${actual.length}/${expected.length} rows${problems.length > 0 ? `: ${problems.slice(0, 3).join(', ')}` : ', exact'}` };
}
