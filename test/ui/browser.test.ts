// The web UI in a real browser: headless Chromium (Debian's `chromium` package)
// driven by playwright-core. Skipped locally when /usr/bin/chromium is missing;
// under CI=true a missing browser is a failure.
//
// Screenshots of each view go to test/ui/screenshots/ on every run (not
// committed), with metrics.json: bytes transferred and time to interactive of
// each first load (measured and reported, not asserted).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { startUi, type RunningUi } from '../../engine/cli/ui';
import { loadJobText } from '../../engine/jobfile';
import { assemble } from '../../engine/jobfile/assemble';
import { runJob, type JobParts } from '../../engine/runtime/run-job';
import { packageRoot } from '../../engine/ui/bundled-results';
import { JobMonitor } from '../../engine/ui/job-monitor';
import { clusterEnv, requireCluster, scratchKeyspace } from '../support/cluster';
import { loadResultsIntoCassandra } from './support';

// Functions passed to page.evaluate run in the browser; this build has no DOM types.
declare const window: any;
declare const document: any;

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOTS = join(packageRoot(), 'test', 'ui', 'screenshots');
const metrics: Record<string, unknown> = {};

let browser: BrowserContext | null = null;
let profile = '';
let ui: RunningUi;
let checkpointDir: string;
const scratch = scratchKeyspace('ui_browser');

/** True when the browser is there; otherwise skips (locally) or fails (CI=true). */
function requireChromium(t: TestContext): boolean {
  if (browser) return true;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: CI must install Debian's chromium package (apt-get install -y chromium)`);
  t.skip(`${CHROMIUM} is missing (apt-get install -y chromium)`);
  return false;
}

before(async () => {
  checkpointDir = await mkdtemp(join(tmpdir(), 'tideflow-ui-browser-'));
  await mkdir(SCREENSHOTS, { recursive: true });
  if (!existsSync(CHROMIUM)) return;
  const { chromium } = await import('playwright-core');
  profile = await mkdtemp(join(tmpdir(), 'tideflow-chromium-'));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
  ui = await startUi({ port: 0, host: '127.0.0.1', checkpointDir, quiet: true }, {});
});

after(async () => {
  await browser?.close();
  await ui?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await rm(checkpointDir, { recursive: true, force: true });
  await writeFile(join(SCREENSHOTS, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
});

/** A new page that records console errors, page errors and the bytes each response transferred. */
async function openPage(): Promise<{ page: Page; errors: string[]; transferred: () => Promise<number> }> {
  const page = await browser!.newPage();
  // Every first load is measured cold: nothing from an earlier test's page in the cache.
  await (await browser!.newCDPSession(page)).send('Network.clearBrowserCache');
  const errors: string[] = [];
  const sizes: Array<Promise<number>> = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('requestfinished', (request) => sizes.push(request.sizes().then((size) => size.responseBodySize + size.responseHeadersSize)));
  return { page, errors, transferred: async () => (await Promise.all(sizes)).reduce((sum, n) => sum + n, 0) };
}

/** Time from navigation start to the view being drawn with its data (a mark the page sets). */
async function readyAfterMs(page: Page, mark: string): Promise<number> {
  return page.evaluate((name) => window.tideflow.marks[name] as number, mark);
}

async function jsonl(file: string): Promise<Array<Record<string, any>>> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** A generator job slowed down to ~10 batches of 100 records a second, watched by the UI's hub. */
async function startSlowRun(): Promise<{ parts: JobParts; stop: () => Promise<void> }> {
  const yaml = [
    'job: slow-generator',
    'source:',
    '  generator: { stations: ["9414290"], start: 2024-01-01T00:00:00Z, count: 100000, interval: 6m, batchSize: 100 }',
    'eventTime: { field: t, maxOutOfOrder: 30m }',
    'steps:',
    '  - window: { id: avg-30m, key: [station], tumbling: { size: 30m }, aggregate: { avg: avg(v) } }',
    'sink:',
    '  null: {}',
  ].join('\n');
  const job = loadJobText('slow-generator.yaml', yaml, { cwd: packageRoot() });
  const parts = await assemble(job, { output: join(checkpointDir, 'slow.jsonl'), checkpointDir, checkpointIntervalMs: 1000 });
  const source = parts.source;
  parts.source = {
    ...source,
    description: source.description,
    batches: (from) =>
      (async function* () {
        for await (const batch of source.batches(from)) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          yield batch;
        }
      })(),
    close: () => source.close(),
  };
  const monitor = new JobMonitor(parts, { checkpointBytes: (name) => ui.hub.checkpointBytes(name) });
  ui.hub.addMonitor(monitor);
  const controller = new AbortController();
  const running = runJob(parts, { signal: controller.signal, observer: monitor, onProgress: (progress) => monitor.onProgress(progress), log: monitor.wrapLog(() => {}) }).then(
    (result) => monitor.finish(result),
    (error) => monitor.fail(error),
  );
  return {
    parts,
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

test('Jobs view: no console errors, a running job\'s progress moves live, a stopped job shows as stopped', async (t) => {
  if (!requireChromium(t)) return;
  // A job known only from an old checkpoint file.
  await writeFile(
    join(checkpointDir, 'tides-yesterday.json'),
    JSON.stringify({ job: 'tides-yesterday', formatVersion: 1, epoch: 41, createdAt: new Date(Date.now() - 86_400_000).toISOString(), positions: { 'tides.observations/0': 5 }, watermarks: { current: null }, operators: {}, sinks: {}, counters: { recordsIn: 5 } }),
  );
  const slow = await startSlowRun();
  const { page, errors, transferred } = await openPage();
  try {
    await page.goto(new URL('#jobs', ui.url).href);
    await page.waitForSelector('html[data-jobs-ready]');
    const interactiveMs = await readyAfterMs(page, 'jobsReady');
    const card = page.locator('article[data-job="slow-generator"]');
    await card.waitFor().catch(async (error) => {
      await page.screenshot({ path: join(SCREENSHOTS, 'jobs-failed.png'), fullPage: true });
      throw error;
    });
    const recordsIn = card.locator('[data-fact="records-in"]');
    const readCount = async () => Number((await recordsIn.textContent())!.replace(/,/g, ''));
    await page.waitForFunction(() => Number(document.querySelector('article[data-job="slow-generator"] [data-fact="records-in"]')?.textContent?.replace(/,/g, '')) > 0);
    const first = await readCount();
    // Progress reports come once a second over server-sent events; no reload.
    await page.waitForFunction((seen) => Number(document.querySelector('article[data-job="slow-generator"] [data-fact="records-in"]')?.textContent?.replace(/,/g, '')) > seen, first, { timeout: 10_000 });
    const second = await readCount();
    assert.ok(second > first, `records in moved from ${first} to ${second}`);
    assert.equal(await card.getAttribute('data-state'), 'running');
    assert.equal(await card.locator('[data-fact="state"]').textContent(), 'running');
    // The chart's points grow with the reports.
    await page.waitForFunction(() => window.tideflow.views.jobs.jobs.get('slow-generator').points.length >= 2);

    // The bundled demo's two jobs finished; the checkpoint-only job is stopped and says since when.
    await ui.ready;
    for (const job of ['tides-30m-average', 'tides-lunar-day']) {
      await page.waitForSelector(`article[data-job="${job}"][data-state="stopped"]`);
    }
    const old = page.locator('article[data-job="tides-yesterday"]');
    assert.equal(await old.getAttribute('data-state'), 'stopped');
    assert.equal(await old.locator('[data-fact="reason"]').textContent(), 'last seen 1.0 d ago: checkpoint epoch 41');
    assert.equal(await old.locator('[data-fact="checkpoint-epoch"]').textContent(), '41');
    await page.screenshot({ path: join(SCREENSHOTS, 'jobs.png'), fullPage: true });

    // Stopping the live run turns its card to stopped, live.
    await slow.stop();
    await page.waitForSelector('article[data-job="slow-generator"][data-state="stopped"]');
    assert.equal(await card.locator('[data-fact="reason"]').textContent(), 'stopped before the end of its input (checkpoint written)');

    // Keyboard: the views are links reachable with Tab.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'nav-jobs');

    assert.deepEqual(errors, []);
    const bytes = await transferred();
    metrics.jobs = { firstLoadBytes: bytes, interactiveMs: Math.round(interactiveMs) };
    t.diagnostic(`Jobs view: ${(bytes / 1024).toFixed(0)} KB transferred, interactive after ${interactiveMs.toFixed(0)} ms`);
  } finally {
    await page.close();
    await slow.stop();
  }
});

test('Tides view: the chart\'s points equal the results file rows of the station and range; the map shows every station', async (t) => {
  if (!requireChromium(t)) return;
  await ui.ready;
  const { page, errors, transferred } = await openPage();
  try {
    await page.goto(new URL('#tides', ui.url).href);
    await page.waitForSelector('html[data-tides-ready]');
    await page.waitForSelector('html[data-map-ready]');
    const interactiveMs = await readyAfterMs(page, 'tidesReady');
    const bytes = await transferred();
    metrics.tides = { firstLoadBytes: bytes, interactiveMs: Math.round(interactiveMs), source: 'embedded (bundled data computed in-process)' };
    t.diagnostic(`Tides view (embedded results): ${(bytes / 1024).toFixed(0)} KB transferred, interactive after ${interactiveMs.toFixed(0)} ms`);
    await page.screenshot({ path: join(SCREENSHOTS, 'tides.png'), fullPage: true });

    // Only San Francisco, one week in March 2019, chosen with the keyboard.
    for (const id of await page.locator('#station-choices input:checked').evaluateAll((inputs) => inputs.map((input) => (input as any).value))) {
      await page.locator(`#station-choices input[value="${id}"]`).uncheck();
    }
    await page.locator('#station-choices input[value="9414290"]').focus();
    await page.keyboard.press('Space');
    await page.locator('#range-from').fill('2019-03-01');
    await page.locator('#range-to').fill('2019-03-08');
    await page.locator('#range-to').press('Enter');
    await page.waitForFunction(() => window.tideflow.lastAnswer?.from === '2019-03-01T00:00:00Z');
    await page.waitForFunction(() => window.tideflow.charts.levels?.series.length === 2);

    const plotted = await page.evaluate(() => {
      const chart = window.tideflow.charts.levels;
      const [xs, ys] = chart.data as [number[], Array<number | null>];
      return xs.map((x, i) => [x, ys[i]]).filter(([, y]) => y !== null && y !== undefined);
    });
    const rows = (await jsonl(join(ui.resultsDir()!, 'tides-30m-average.jsonl'))).filter(
      (row) => row.station === '9414290' && row.window_start >= '2019-03-01T00:00:00.000Z' && row.window_start < '2019-03-08T00:00:00.000Z',
    );
    assert.equal(rows.length, 336);
    assert.deepEqual(plotted, rows.map((row) => [Date.parse(row.window_start) / 1000, row.avg]));

    const lunarPlotted = await page.evaluate(() => {
      const [xs, highs] = window.tideflow.charts.lunarDays.data as [number[], number[]];
      return xs.map((x, i) => [x, highs[i]]);
    });
    const lunarRows = (await jsonl(join(ui.resultsDir()!, 'tides-lunar-day.jsonl'))).filter(
      (row) => row.station === '9414290' && row.window_start >= '2019-03-01T00:00:00.000Z' && row.window_start < '2019-03-08T00:00:00.000Z',
    );
    assert.deepEqual(lunarPlotted, lunarRows.map((row) => [Date.parse(row.window_start) / 1000, row.high]));
    assert.match((await page.locator('#tides-charts .query').first().textContent())!, /SAN FRANCISCO \(Golden Gate\): 336 rows in [\d.]+ ms/);

    // Every bundled station is on the map, labelled; those with results are focusable buttons.
    const stations = JSON.parse(await readFile(join(packageRoot(), 'data/bundled/stations.json'), 'utf8')).stations as Array<{ id: string }>;
    const onMap = await page.locator('#map g.station').evaluateAll((groups) => groups.map((group) => [group.getAttribute('data-station'), group.getAttribute('role'), group.getAttribute('aria-label')]));
    assert.deepEqual(onMap.map(([id]) => id).sort(), stations.map((station) => station.id).sort());
    const sf = onMap.find(([id]) => id === '9414290')!;
    assert.equal(sf[1], 'button');
    assert.match(sf[2]!, /^SAN FRANCISCO \(Golden Gate\) \(9414290\): latest tidal range \d+\.\d\d m/);
    assert.equal(onMap.filter(([, role]) => role === 'button').length, 7);
    // Enter on a station adds it to the charts.
    await page.locator('#map g.station[data-station="9410230"]').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => window.tideflow.charts.levels?.series.length === 3);
    await page.screenshot({ path: join(SCREENSHOTS, 'tides-san-francisco-week.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});

test('Tides view against Cassandra: the plotted points equal the rows of the station\'s partition slice', async (t) => {
  if (!requireChromium(t)) return;
  if (!(await requireCluster(t, ['cassandra']))) return;
  const { keyspace } = scratch;
  await loadResultsIntoCassandra(keyspace, join(packageRoot(), 'data/bundled/sample-8729108.jsonl'));
  const cluster = clusterEnv();
  const cassandraUi = await startUi({ port: 0, host: '127.0.0.1', checkpointDir, quiet: true, cassandra: cluster.cassandraContactPoints.join(','), keyspace, localDc: cluster.cassandraLocalDc }, {});
  const { page, errors, transferred } = await openPage();
  try {
    await page.goto(new URL('#tides', cassandraUi.url).href);
    await page.waitForSelector('html[data-tides-ready]');
    await page.waitForSelector('html[data-map-ready]');
    const interactiveMs = await readyAfterMs(page, 'tidesReady');
    const bytes = await transferred();
    metrics.tidesCassandra = { firstLoadBytes: bytes, interactiveMs: Math.round(interactiveMs), source: `Cassandra keyspace ${keyspace} (Panama City sample)` };
    t.diagnostic(`Tides view (Cassandra): ${(bytes / 1024).toFixed(0)} KB transferred, interactive after ${interactiveMs.toFixed(0)} ms`);
    const answer = await page.evaluate(() => window.tideflow.lastAnswer as { from: string; to: string });
    const plotted = await page.evaluate(() => {
      const [xs, ys] = window.tideflow.charts.levels.data as [number[], Array<number | null>];
      return xs.map((x, i) => [x, ys[i]]).filter(([, y]) => y !== null && y !== undefined);
    });
    const admin = await scratch.adminClient();
    const rows = await admin.execute(`SELECT window_start, avg FROM ${keyspace}.avg_30m WHERE station = ? AND window_start >= ? AND window_start < ?`, ['8729108', new Date(answer.from), new Date(answer.to)], { prepare: true });
    assert.equal(rows.rows.length, 145);
    assert.deepEqual(plotted, rows.rows.map((row) => [(row['window_start'] as Date).getTime() / 1000, row['avg']]));
    assert.match((await page.locator('#tides-charts .query').first().textContent())!, /Panama City: 145 rows in [\d.]+ ms — SELECT .* WHERE station = \? AND window_start >= \? AND window_start < \?/);
    await page.screenshot({ path: join(SCREENSHOTS, 'tides-cassandra.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await cassandraUi.close();
  }
});
