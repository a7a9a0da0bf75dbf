/**
 * The NOAA connector for real: a NOAA-like API on 127.0.0.1 (test/support/noaa-server.ts,
 * real hourly heights of five stations moved to the last month) ->
 * `tideflow run jobs/noaa-to-kafka.yaml` as a child process -> Kafka (Confluent
 * Avro through the registry) -> `tideflow run jobs/tides-lunar-day.yaml
 * --until-end` -> Cassandra, compared with the plain computation on what the
 * server published.
 *
 * The connector backfills 25 days, then polls live while the server's clock
 * moves on an hour every 400 ms. It is SIGKILLed once while it delivers the
 * backfill and once while it polls live, restarted from its checkpoint each
 * time, and stopped with SIGTERM at the end. The topic must hold every
 * observation published up to the server's final clock, with no gap, and
 * repeats only of the kind the consumers' dedupe removes: exact (station, t)
 * copies of what a killed run delivered after its last checkpoint, and
 * nothing else. NOAA's faults along the way: a 503 with Retry-After and a 429
 * (retried: no dead letter), an error body with HTTP 200 and an HTML
 * maintenance page (one dead letter each, with the reason), a duplicated
 * overlap (nothing doubled).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Admin } from 'kafkajs';
import { loadAvroType } from '../../engine/codecs/avro-schema';
import { FileCheckpointStore } from '../../engine/state/file-checkpoint-store';
import { openFaultRun, ROOT, selectAll, startCli, type CliProcess, type FaultRun } from '../faults/harness';
import { requireCluster } from '../support/cluster';
import { FakeNoaaServer, NO_DATA_MESSAGE } from '../support/noaa-server';
import { assertRowsEqual, byStationThenStart, expectedLunarDays, type Observation } from '../support/plain';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const JOB = 'noaa-to-kafka';
const PRODUCT = 'hourly_height';
/** Server clock steps while the connector polls live. */
const TICK_MS = 400;

type Message = Awaited<ReturnType<FaultRun['readTopic']>>[number];
type Positions = Record<string, number>;

const partitionOf = (station: string) => `noaa:${station}/${PRODUCT}`;
const keyOf = (station: string, t: number) => `${station}|${t}`;

/**
 * jobs/noaa-to-kafka.yaml with what this test changes: the fake server's
 * stations and product, a 2 s interval, a backfill that reaches before the
 * fixtures, this run's topics, the reader schema's absolute path. Everything
 * else (politeness, event time, sink format, keys) is the reference job's.
 */
function connectorJob(run: FaultRun, stations: string[], deadLetterTopic: string): string {
  let text = readFileSync(join(ROOT, 'jobs', `${JOB}.yaml`), 'utf8');
  const edit = (from: RegExp, to: string) => {
    if (!from.test(text)) throw new Error(`jobs/${JOB}.yaml: ${from} not found`);
    text = text.replace(from, to);
  };
  edit(/^( {4}stations: )\[.*\]$/m, `$1[${stations.map((station) => `"${station}"`).join(', ')}]`);
  edit(/^( {4}product: )water_level$/m, `$1${PRODUCT}`);
  // Two requests per second instead of one per three: five stations then take 2.5 s a round.
  edit(/^( {4}interval: )6m$/m, '$12s\n    rate: { requests: 2, per: 1s }');
  edit(/^( {4}backfill: )30d$/m, '$131d');
  edit(/^( {4}topic: )tides\.observations\.dead-letters$/m, `$1${deadLetterTopic}`);
  edit(/^( {4}topic: )tides\.observations$/m, `$1${run.topic}`);
  edit(/^( +readerSchema: )\.\.\/schemas\//m, `$1${join(ROOT, 'schemas')}/`);
  const path = join(run.dir, `${JOB}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The connector's checkpointed positions (empty before its first checkpoint). */
async function checkpointed(dir: string): Promise<Positions> {
  return (await new FileCheckpointStore(dir).load(JOB))?.positions ?? {};
}

async function topicEnd(admin: Admin, topic: string): Promise<number> {
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, partition) => sum + Number(partition.high), 0);
  } catch {
    return 0; // not created yet
  }
}

/** Polls `check` every 20 ms until it returns a value other than undefined. */
async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, cli?: CliProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (cli !== undefined && (cli.child.exitCode !== null || cli.child.signalCode !== null)) {
      throw new Error(`the connector exited while waiting for ${what}:\n${cli.stderrSoFar().slice(-3000)}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cli ? `:\n${cli.stderrSoFar().slice(-3000)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('NOAA API -> noaa-to-kafka (SIGKILLed in the backfill and live, restarted) -> Kafka -> tides-lunar-day -> Cassandra equals the plain computation', { timeout: 170_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const began = Date.now();
  // The fixtures' hourly heights, moved to start 30 days ago; the server has published 25 days of them.
  const start = Math.floor(Date.now() / HOUR) * HOUR - 30 * DAY;
  const backfilledTo = start + 25 * DAY;
  const finalClock = backfilledTo + 72 * HOUR;
  let clock = backfilledTo;
  const noaa = await FakeNoaaServer.start({ now: () => clock, align: { product: PRODUCT, start } });
  const stations = noaa.stationsWith(PRODUCT);
  assert.equal(stations.length, 5);
  const run = await openFaultRun('noaa');
  const deadLetterTopic = `${run.topic}.${JOB}.dead-letters`;
  const admin = run.kafka.admin();
  await admin.connect();
  const checkpointDir = join(run.dir, 'checkpoints');
  const jobFile = connectorJob(run, stations, deadLetterTopic);
  const env = run.env({ NOAA_API_URL: noaa.url, NOAA_APPLICATION: 'tideflow-e2e' });
  const connectorArgs = ['run', jobFile, '--checkpoint-dir', checkpointDir, '--checkpoint-interval', '500ms'];
  let ticker: NodeJS.Timeout | undefined;
  const children: CliProcess[] = [];
  const connector = () => {
    const cli = startCli(connectorArgs, env);
    children.push(cli);
    return cli;
  };
  /** What each SIGKILL left: the positions the next run resumes from, and the topic's end offset. */
  const kills: Array<{ positions: Positions; topicEnd: number; requestsBefore: number }> = [];
  const kill = async (cli: CliProcess) => {
    cli.kill('SIGKILL');
    const exit = await cli.exited;
    assert.equal(exit.signal, 'SIGKILL');
    // Let the broker finish requests the process sent before it died.
    await new Promise((resolve) => setTimeout(resolve, 500));
    kills.push({ positions: await checkpointed(checkpointDir), topicEnd: await topicEnd(admin, run.topic), requestsBefore: noaa.requests.length });
  };
  const lowest = (positions: Positions) => Math.min(...stations.map((station) => positions[partitionOf(station)] ?? Number.NEGATIVE_INFINITY));

  try {
    // ---- 1. Backfill, SIGKILLed while it delivers. The first answer for one station is a 503 with Retry-After.
    // The last station's first answer stops 10 days in and its next one is held back until the kill: the
    // others' rows go out up to there (in time order across the stations), so the kill always lands
    // mid-backfill however fast the machine delivers.
    noaa.inject({ kind: 'unavailable', retryAfterSeconds: 1 }, { station: stations[0] });
    let release = () => {};
    noaa.inject({ kind: 'short', until: start + 10 * DAY }, { station: stations[4] });
    noaa.inject({ kind: 'held', until: new Promise<void>((resolve) => (release = resolve)) }, { station: stations[4] });
    const backfillRows = stations.reduce((sum, station) => sum + noaa.expectedRows(PRODUCT, station, 0, clock).length, 0);
    const first = connector();
    const atKill = await until(
      'the backfill to be partly delivered and checkpointed',
      60_000,
      async () => {
        const delivered = await topicEnd(admin, run.topic);
        return delivered > 0 && Object.keys(await checkpointed(checkpointDir)).length > 0 ? delivered : undefined;
      },
      first,
    );
    await kill(first);
    release();
    assert.match(first.stderrSoFar(), new RegExp(`poll of ${stations[0]} failed \\(HTTP 503 Service Unavailable \\(Retry-After 1 s\\)\\); retrying in 1000 ms \\(attempt 1 of 4\\)`));
    assert.ok(lowest(kills[0].positions) <= start + 10 * DAY + 1, 'SIGKILLed before every station had delivered its backfill');
    t.diagnostic(`kill 1 (backfill): ${atKill} of ${backfillRows} backfilled observations in the topic, ${kills[0].topicEnd} after the kill; checkpointed up to ${stations.map((s) => new Date(kills[0].positions[partitionOf(s)] ?? 0).toISOString().slice(5, 16)).join(', ')}`);

    // ---- 2. Restart: each station resumes at its checkpointed position (or the backfill start), then polls live.
    const second = connector();
    await until('the restarted connector to deliver the backfill', 60_000, async () => (lowest(await checkpointed(checkpointDir)) > backfilledTo ? true : undefined), second);
    const resumed = noaa.requests.slice(kills[0].requestsBefore);
    for (const station of stations) {
      const request = resumed.find((seen) => seen.station === station)!;
      const position = kills[0].positions[partitionOf(station)];
      if (position !== undefined) assert.equal(request.begin, Math.floor(position / 60_000) * 60_000, `${station} resumes at its checkpointed position`);
      else assert.ok(request.begin! < start, `${station}, never checkpointed, reads its backfill again`);
    }
    ticker = setInterval(() => {
      clock = Math.min(clock + HOUR, finalClock);
    }, TICK_MS);
    // SIGKILLed live, once every station has delivered and checkpointed some live hours.
    await until('live hours to be checkpointed', 60_000, async () => (lowest(await checkpointed(checkpointDir)) > backfilledTo + 6 * HOUR ? true : undefined), second);
    await kill(second);
    t.diagnostic(`kill 2 (live): server clock at +${(clock - backfilledTo) / HOUR} h, checkpointed up to +${(lowest(kills[1].positions) - 1 - backfilledTo) / HOUR} h`);

    // ---- 3. Restart; it catches up on what was published while it was down. NOAA's faults, then SIGTERM.
    const third = connector();
    await until('the third run to deliver', 60_000, async () => (lowest(await checkpointed(checkpointDir)) > lowest(kills[1].positions) ? true : undefined), third);
    noaa.inject({ kind: 'error-body' }, { station: stations[1] });
    noaa.inject({ kind: 'html' }, { station: stations[2] });
    noaa.inject({ kind: 'rate-limited', retryAfterSeconds: 1 }, { station: stations[3] });
    noaa.inject({ kind: 'duplicate-overlap', rows: 3 }, { station: stations[4] });
    await until('the faults to be met and every published hour checkpointed', 90_000, async () => {
      if (noaa.pendingFaults() > 0 || clock < finalClock) return undefined;
      return lowest(await checkpointed(checkpointDir)) > finalClock ? true : undefined;
    }, third);
    clearInterval(ticker);
    third.kill('SIGTERM');
    const stopped = await third.exited;
    assert.equal(stopped.code, 0, `SIGTERM: exit 0\n${stopped.stderr.slice(-3000)}`);
    assert.match(stopped.stderr, new RegExp(`poll of ${stations[3]} failed \\(HTTP 429 Too Many Requests \\(Retry-After 1 s\\)\\); retrying in 1000 ms \\(attempt 1 of 4\\)`));
    assert.match(stopped.stderr, new RegExp(`${stations[1]}: poll failed \\(NOAA CO-OPS API error: ${NO_DATA_MESSAGE.replace(/\./g, '\\.')}\\); dead letter written`));
    const connectorSeconds = (Date.now() - began) / 1000;

    // ---- The topic: every published observation, no gap, and repeats only where a killed run had not checkpointed.
    const published = stations.flatMap((station) => noaa.expectedRows(PRODUCT, station, 0, finalClock)) as unknown as Observation[];
    const messages = await run.readTopic(run.topic);
    const type = loadAvroType(join(ROOT, 'schemas', 'tide_observation.avsc'));
    const observations = messages.map((message: Message) => {
      assert.equal(message.value![0], 0, 'Confluent framing');
      const row = { ...(type.fromBuffer(message.value!.subarray(5)) as Observation) };
      assert.equal(message.key?.toString(), row.station, 'keyed by station');
      return { ...row, offset: Number(message.offset) };
    });
    const byKey = new Map(published.map((row) => [keyOf(row.station, row.t), row]));
    const copies = new Map<string, number>();
    for (const { offset: _offset, ...row } of observations) {
      const key = keyOf(row.station, row.t);
      assert.deepEqual(row, byKey.get(key), `${key}: as published (a repeat is an exact copy)`);
      copies.set(key, (copies.get(key) ?? 0) + 1);
    }
    assert.deepEqual([...byKey.keys()].filter((key) => !copies.has(key)), [], 'every published observation is in the topic');
    // A restart reads again from the checkpointed position: what the killed run had delivered from there comes twice.
    const expectedCopies = new Map([...byKey.keys()].map((key) => [key, 1]));
    for (const { positions, topicEnd: end } of kills) {
      const again = new Set(observations.filter((row) => row.offset < end && row.t >= (positions[partitionOf(row.station)] ?? Number.NEGATIVE_INFINITY)).map((row) => keyOf(row.station, row.t)));
      for (const key of again) expectedCopies.set(key, expectedCopies.get(key)! + 1);
    }
    assert.deepEqual(Object.fromEntries([...copies].filter(([key, count]) => count !== expectedCopies.get(key))), {}, 'repeats: exactly what the killed runs delivered after their last checkpoint');
    const repeats = observations.length - published.length;
    // Each run writes in event-time order across the stations (they share the topic's partition).
    const runStarts = [0, ...kills.map((k) => k.topicEnd), Number.POSITIVE_INFINITY];
    for (let i = 0; i + 1 < runStarts.length; i++) {
      const ofRun = observations.filter((row) => row.offset >= runStarts[i] && row.offset < runStarts[i + 1]).map((row) => row.t);
      const backwards = ofRun.filter((time, j) => j > 0 && time < ofRun[j - 1]).length;
      assert.equal(backwards, 0, `run ${i + 1}: ${backwards} observations earlier than the one before them in the topic`);
    }

    // ---- Dead letters: one per fault that is not retried, with NOAA's message or the reason, the URL and the body.
    const letters = (await run.readTopic(deadLetterTopic)).map((message) => ({ headers: message.headers, payload: JSON.parse(message.value!.toString()) as { url: string; status: number; body: string } }));
    assert.deepEqual(
      letters.map(({ headers }) => [headers['tideflow.source.partition'], headers['tideflow.stage'], headers['tideflow.reason'].replace(/: "<!DOCTYPE.*$/s, '')]).sort(),
      [
        [partitionOf(stations[1]), 'poll', `NOAA CO-OPS API error: ${NO_DATA_MESSAGE}`],
        [partitionOf(stations[2]), 'poll', 'the answer is HTML or XML, not JSON (a maintenance or error page?)'],
      ].sort(),
    );
    for (const { headers, payload } of letters) {
      const station = headers['tideflow.source.partition'] === partitionOf(stations[1]) ? stations[1] : stations[2];
      assert.match(payload.url, new RegExp(`^${noaa.url.replace(/[.?]/g, '\\$&')}\\?station=${station}&product=${PRODUCT}&begin_date=\\d{8}%20\\d{2}%3A\\d{2}&end_date=`));
      assert.equal(payload.status, 200);
      assert.match(payload.body, station === stations[1] ? /^\{"error": \{"message":" No data was found/ : /^<!DOCTYPE html>/);
    }
    for (const seen of noaa.requests) assert.equal(seen.params.application, 'tideflow-e2e');

    // ---- The final run's accounting: the counters go on from the checkpoints, so every observation counts once.
    const summary = /resumed from checkpoint epoch \d+ \(([\d,]+) records since the job's first run, counted below\), stopped before the end of input \(checkpoint written\)\n {2}([\d,]+) results, 0 duplicates dropped, 0 null readings, 0 filtered out, 0 late, (\d+) dead letters \(every record accounted for\)/.exec(stopped.stderr);
    assert.ok(summary, `accounting line of the final run:\n${stopped.stderr.slice(-1500)}`);
    const count = (text: string) => Number(text.replace(/,/g, ''));
    assert.deepEqual([count(summary[1]), count(summary[2]), count(summary[3])], [published.length + letters.length, published.length, letters.length]);

    // ---- tides-lunar-day on the topic, unchanged but for its topics and keyspace: equal to the plain computation.
    const lunarBegan = Date.now();
    const lunar = await startCli(['run', run.jobFile('tides-lunar-day'), '--until-end'], run.env({ FAULTS_GROUP: `noaa-lunar-${run.id}` })).exited;
    assert.equal(lunar.code, 0, lunar.stderr.slice(-3000));
    const lunarSummary = /tides-lunar-day: ([\d,]+) records in [\d.]+ s.*\n {2}([\d,]+) results, ([\d,]+) duplicates dropped, 0 null readings, 0 filtered out, ([\d,]+) late, 0 dead letters \(every record accounted for\)/.exec(lunar.stderr);
    assert.ok(lunarSummary, `accounting line of tides-lunar-day:\n${lunar.stderr.slice(-1500)}`);
    const [lunarIn, lunarResults, lunarDuplicates, lunarLate] = lunarSummary.slice(1).map(count);
    assert.equal(lunarIn, observations.length, 'read every message of the topic');
    // Repeats are dropped by the dedupe step, or (a replay older than its 2 h horizon) by the window as late.
    assert.equal(lunarDuplicates + lunarLate, repeats, 'only the repeats are not counted');
    const table = (await selectAll(run.cassandra, run.keyspace, 'lunar_day')).sort(byStationThenStart);
    assert.equal(lunarResults, table.length);
    assertRowsEqual(table, expectedLunarDays(published), ['mean', 'range']);

    t.diagnostic(
      `${stations.length} stations, ${published.length} observations published (${backfillRows} backfilled, ${published.length - backfillRows} live), ` +
        `${observations.length} messages (${repeats} repeats after 2 SIGKILLs), ${letters.length} dead letters, ${noaa.requests.length} requests; ` +
        `lunar_day ${table.length} rows (${lunarDuplicates} duplicates dropped, ${lunarLate} late); ` +
        `connector phase ${connectorSeconds.toFixed(1)} s, tides-lunar-day ${((Date.now() - lunarBegan) / 1000).toFixed(1)} s, total ${((Date.now() - began) / 1000).toFixed(1)} s`,
    );
  } finally {
    if (ticker) clearInterval(ticker);
    for (const cli of children) cli.kill('SIGKILL');
    await Promise.all(children.map((cli) => cli.exited));
    await admin.deleteTopics({ topics: [deadLetterTopic], timeout: 10_000 }).catch(() => {});
    await admin.disconnect();
    await run.close();
    await noaa.close();
  }
});
