import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startUi, type RunningUi } from '../cli/ui';
import type { JobSpec } from '../config/job';
import { JobMonitor } from './job-monitor';

// The API against the embedded default: `tideflow ui` without servers, which runs
// the bundled data through the reference jobs in this process (JSONL results).

let ui: RunningUi;
let checkpointDir: string;
const get = async (path: string): Promise<{ status: number; body: any }> => {
  const response = await fetch(new URL(path, ui.url));
  return { status: response.status, body: await response.json() };
};

before(async () => {
  checkpointDir = await mkdtemp(join(tmpdir(), 'tideflow-ui-api-'));
  ui = await startUi({ port: 0, host: '127.0.0.1', checkpointDir, quiet: true }, {});
});
after(async () => {
  await ui.close();
  await rm(checkpointDir, { recursive: true, force: true });
});

async function jsonl(file: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('the reference jobs run in this process and end as stopped, every record read', async () => {
  await ui.ready;
  const { status, body } = await get('/api/jobs');
  assert.equal(status, 200);
  const views = new Map<string, any>(body.jobs.map((view: any) => [view.job, view]));
  for (const job of ['tides-30m-average', 'tides-lunar-day']) {
    const view = views.get(job);
    assert.equal(view.state, 'stopped');
    assert.equal(view.stateReason, 'finished: end of input');
    assert.equal(view.seenIn, 'this process');
    assert.equal(view.counters.recordsIn, 81_409);
    assert.equal(view.watermark, null);
    assert.equal(view.watermarkEnded, true);
  }
  assert.equal(views.get('tides-30m-average').counters.resultsOut, 40_101);
  assert.equal(views.get('tides-lunar-day').counters.resultsOut, 1_413);
  const metrics = await get('/api/metrics?job=tides-lunar-day');
  assert.deepEqual(Object.keys(metrics.body.jobs), ['tides-lunar-day']);
  assert.ok(metrics.body.jobs['tides-lunar-day'].length >= 1);
});

test('levels and lunar days of a station and range are exactly the results file rows with window_start in [from, to)', async () => {
  await ui.ready;
  const dir = ui.resultsDir()!;
  const from = '2019-03-01T00:00:00.000Z';
  const to = '2019-03-08T00:00:00.000Z';
  const inRange = (row: Record<string, unknown>, station: string) => row.station === station && String(row.window_start) >= from && String(row.window_start) < to;
  const levels = await get(`/api/results/levels?station=9414290&station=9410230&from=${from}&to=${to}`);
  assert.equal(levels.status, 200);
  const expectedLevels = await jsonl(join(dir, 'tides-30m-average.jsonl'));
  assert.deepEqual(levels.body.series.map((series: any) => series.station), ['9414290', '9410230']);
  for (const series of levels.body.series) {
    const expected = expectedLevels.filter((row) => inRange(row, series.station));
    assert.equal(series.rows.length, series.station === '9414290' ? 336 : 168);
    assert.deepEqual(series.rows, expected);
    assert.equal(typeof series.queryMs, 'number');
  }
  const lunar = await get(`/api/results/lunar-days?station=9414290&from=${from}&to=${to}`);
  const expectedLunar = (await jsonl(join(dir, 'tides-lunar-day.jsonl'))).filter((row) => inRange(row, '9414290'));
  assert.equal(lunar.body.series[0].rows.length, 7);
  assert.deepEqual(lunar.body.series[0].rows, expectedLunar);
});

test('stations: every bundled station, with first/last window and latest lunar day where there are results', async () => {
  await ui.ready;
  const { body } = await get('/api/stations');
  assert.equal(body.results.state, 'ready');
  assert.equal(body.stations.length, 14);
  const withResults = body.stations.filter((station: any) => station.last !== null).map((station: any) => station.id);
  assert.deepEqual(withResults.sort(), ['8410140', '8443970', '8729108', '8761724', '9410230', '9414290', '9454460']);
  const sf = body.stations.find((station: any) => station.id === '9414290');
  assert.equal(sf.first, '2019-01-01T00:00:00.000Z');
  assert.equal(sf.last, '2019-07-31T23:30:00.000Z');
  assert.equal(sf.lat, 37.8063);
  const lunar = (await jsonl(join(ui.resultsDir()!, 'tides-lunar-day.jsonl'))).filter((row) => row.station === '9414290');
  assert.deepEqual(sf.latestLunarDay, lunar[lunar.length - 1]);
});

test('a job known only from its checkpoint file shows as stopped, with epoch, size and partitions', async () => {
  const createdAt = new Date(Date.now() - 3_600_000).toISOString();
  const checkpoint = { job: 'old-job', formatVersion: 1, epoch: 12, createdAt, positions: { 'tides/0': 10, 'tides/1': 20 }, watermarks: { current: Date.parse('2024-01-01T00:00:00Z'), partitions: {} }, operators: {}, sinks: {}, counters: { recordsIn: 30, deadLetters: 2 } };
  await mkdir(checkpointDir, { recursive: true });
  const text = JSON.stringify(checkpoint);
  await writeFile(join(checkpointDir, 'old-job.json'), text);
  const { body } = await get('/api/jobs/old-job');
  assert.equal(body.state, 'stopped');
  assert.equal(body.stateReason, 'last seen 1.0 h ago: checkpoint epoch 12');
  assert.equal(body.seenIn, `checkpoint directory ${checkpointDir}`);
  assert.deepEqual(body.checkpoint, { epoch: 12, at: Date.parse(createdAt), durationMs: null, bytes: Buffer.byteLength(text), store: `checkpoint directory ${checkpointDir}` });
  assert.equal(body.counters.recordsIn, 30);
  assert.equal(body.deadLetters.total, 2);
  assert.equal(body.watermark, Date.parse('2024-01-01T00:00:00Z'));
  const tasks = await get('/api/tasks');
  assert.deepEqual(tasks.body.tasks.find((task: any) => task.job === 'old-job'), { job: 'old-job', task: 'old-job/0', instance: null, state: 'stopped', partitions: ['tides/0', 'tides/1'] });
});

test('server-sent events carry a job change to the page', async () => {
  const controller = new AbortController();
  const response = await fetch(new URL('/api/events', ui.url), { signal: controller.signal });
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body!.getReader();
  const parts = {
    job: { job: 'sse-job' } as JobSpec,
    source: { description: 'test source', batches: () => [] as never, close: async () => {} },
    sinks: new Map(),
    checkpoints: { description: 'none', claim: async () => {}, list: async () => [], load: async () => null, save: async () => {}, clear: async () => {}, close: async () => {} },
  };
  ui.hub.addMonitor(new JobMonitor(parts));
  let text = '';
  while (!text.includes('event: job')) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
  const data = JSON.parse(/event: job\ndata: (.*)\n/.exec(text)![1]);
  assert.equal(data.view.job, 'sse-job');
  assert.equal(data.view.state, 'running');
});

test('the API says what is wrong with a request', async () => {
  await ui.ready;
  assert.deepEqual(await get('/api/results/levels?from=2019-01-01&to=2019-02-01'), { status: 400, body: { error: 'name at least one station: ?station=9414290 (repeat for more)' } });
  assert.equal((await get('/api/results/levels?station=9414290&from=2019-02-01&to=2019-01-01')).status, 400);
  assert.equal((await get('/api/results/levels?station=9414290&from=soon')).status, 400);
  assert.equal((await get('/api/jobs/nope')).status, 404);
  assert.equal((await get('/api/nope')).status, 404);
  const page = await fetch(new URL('/', ui.url));
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const library = await fetch(new URL('/vendor/d3-geo.min.mjs', ui.url));
  assert.equal(library.status, 200);
  assert.equal((await fetch(new URL('/static/../../package.json', ui.url))).status, 404);
});
