/**
 * Before and after: the engine-only scenario of this checkout against another
 * built checkout (an earlier commit in a git worktree), in interleaved runs
 * (A B, B A, A B ...) so both see the same machine as it drifts. Each run is a
 * process of its own that builds its payloads, warms up on 200,000 records,
 * then times one run of the job; the figures per job are the medians and the
 * ratio of each pair (this checkout / the other).
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)
 *   node --max-semi-space-size=64 dist/benchmarks/compare.js --base /tmp/before [--rounds 8] [--records 1000000]
 *        [--jobs tides-dedupe,tides-30m-average:window-only,tides-lunar-day]
 *
 * Each side reads the job from its own jobs/ folder. `:window-only` keeps the
 * job's window step alone (this checkout's engine-only option; a checkout
 * without that option runs its job file as it is), for comparing the same
 * job when a step was added to the reference job in between.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { median } from './kafka-topic';

interface Measured {
  side: 'this' | 'base';
  job: string;
  recordsPerSecond: number;
  /** CPU time of the whole process (all threads) per record, in microseconds. */
  cpuUsPerRecord: number;
  results: number;
}

const WARM_UP_RECORDS = 200_000;
const HERE = resolve(__dirname, '..', '..');

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

/** In a child: one timed engine-only run of `job` in the checkout at `root`. */
async function measureOnce(root: string, jobAndVariant: string, records: number): Promise<Omit<Measured, 'side'>> {
  const [job, variant] = jobAndVariant.split(':');
  // Job files are read relative to the checkout; its own build is loaded.
  process.chdir(root);
  const bench = require(resolve(root, 'dist', 'benchmarks', 'engine-only.js')) as typeof import('./engine-only');
  const options = variant === 'window-only' ? { windowOnly: true } : {};
  const { payloads, type } = bench.makePayloads(records, 200);
  await bench.benchEngineOnly(job, payloads.slice(0, WARM_UP_RECORDS), type, 1, 1, options);
  const result = await bench.benchEngineOnly(job, payloads, type, 1, 1, options);
  return {
    job: jobAndVariant,
    recordsPerSecond: result.medianRecordsPerSecond,
    cpuUsPerRecord: (result.medianCoresBusy / result.medianRecordsPerSecond) * 1e6,
    results: result.results,
  };
}

async function inChild(root: string, job: string, records: number): Promise<Omit<Measured, 'side'>> {
  const child = fork(__filename, ['--child', root, job, String(records)], { execArgv: ['--max-semi-space-size=64'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let answer: Omit<Measured, 'side'> | null = null;
  child.on('message', (message) => (answer = message as Omit<Measured, 'side'>));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0 || answer === null) throw new Error(`${job} in ${root}: the run exited with code ${code}`);
  return answer;
}

async function main(): Promise<void> {
  const base = resolve(argument('base', ''));
  const rounds = Number(argument('rounds', '8'));
  const records = Number(argument('records', '1000000'));
  const jobs = argument('jobs', 'tides-dedupe,tides-30m-average:window-only,tides-lunar-day').split(',');
  if (argument('base', '') === '' || !Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('usage: node dist/benchmarks/compare.js --base CHECKOUT [--rounds N] [--records N] [--jobs a,b:window-only]\n');
    process.exit(2);
  }
  const runs: Measured[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const job of jobs) {
      const order: Array<Measured['side']> = round % 2 === 0 ? ['base', 'this'] : ['this', 'base'];
      for (const side of order) {
        const measured = { side, ...(await inChild(side === 'this' ? HERE : base, job, records)) };
        process.stderr.write(`round ${round + 1}/${rounds} ${job} ${side}: ${Math.round(measured.recordsPerSecond).toLocaleString('en-US')} records/s, ${measured.cpuUsPerRecord.toFixed(3)} us CPU/record\n`);
        runs.push(measured);
      }
    }
  }
  const lines = [
    `Engine only, ${records.toLocaleString('en-US')} records, ${rounds} interleaved rounds; this checkout against ${base}.`,
    '',
    '| job | records/s before (median) | after (median) | after / before, pair by pair (median, min-max) | CPU us/record before | after | results equal |',
    '|---|---:|---:|---|---:|---:|---|',
  ];
  for (const job of jobs) {
    const of = (side: Measured['side']) => runs.filter((run) => run.job === job && run.side === side);
    const before = of('base');
    const after = of('this');
    const ratios = before.map((run, i) => after[i].recordsPerSecond / run.recordsPerSecond).sort((a, b) => a - b);
    const rate = (list: Measured[]) => Math.round(median(list.map((run) => run.recordsPerSecond))).toLocaleString('en-US');
    const cpu = (list: Measured[]) => median(list.map((run) => run.cpuUsPerRecord)).toFixed(3);
    const equal = new Set([...before, ...after].map((run) => run.results)).size === 1;
    lines.push(`| ${job} | ${rate(before)} | ${rate(after)} | ${median(ratios).toFixed(2)} (${ratios[0].toFixed(2)}-${ratios[ratios.length - 1].toFixed(2)}) | ${cpu(before)} | ${cpu(after)} | ${equal ? 'yes' : 'NO'} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (require.main === module) {
  if (process.argv[2] === '--child') {
    const [root, job, records] = process.argv.slice(3);
    measureOnce(root, job, Number(records)).then(
      (result) => process.send!(result, () => process.exit(0)),
      (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
        process.exit(1);
      },
    );
  } else {
    main().catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    });
  }
}
