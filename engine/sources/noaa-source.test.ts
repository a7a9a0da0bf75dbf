import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Reporter } from '../config/component';
import type { RawBatch, Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { UsageError } from '../core/errors';
import { feetToMetres } from '../codecs/csv';
import { FakeNoaaServer, NO_DATA_MESSAGE, type NoaaFault } from '../../test/support/noaa-server';
import { VirtualClock } from '../../test/support/virtual-clock';
import type { HttpPollingSource } from './http-source';
import type { Positions } from '../core/source';
import type { NoaaSourceConfig, NoaaSourceSpec } from './noaa-source';
import { NOAA_PRODUCTS, check, datagetterTime, noaaRange, noaaSource, normalize } from './noaa-source';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const NOAA_ERROR = `NOAA CO-OPS API error: ${NO_DATA_MESSAGE}`;

interface Polled {
  rows: Row[];
  deadLetters: DeadLetter[];
  batches: RawBatch[];
  /** What the runtime checkpoints after processing each batch: its partition's toOffset. */
  positions: Positions;
}

/** Reads batches as the runtime does until `stop` says so, then stops the source. */
async function poll(source: HttpPollingSource, from: Positions, stop: (polled: Polled) => boolean): Promise<Polled> {
  const polled: Polled = { rows: [], deadLetters: [], batches: [], positions: { ...from } };
  const iterator = source.batches(from)[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    const batch = next.value;
    polled.batches.push(batch);
    polled.rows.push(...batch.rows!);
    polled.deadLetters.push(...(batch.deadLetters ?? []));
    polled.positions[batch.source.partition] = batch.source.toOffset;
    if (stop(polled)) {
      await iterator.return?.();
      break;
    }
  }
  return polled;
}

function specFor(noaa: FakeNoaaServer, config: Partial<NoaaSourceConfig>): NoaaSourceSpec {
  return normalize({ stations: ['9414290'], baseUrl: noaa.url, application: 'tideflow-test', rate: { requests: 1000, per: '1s' }, ...config }, { job: 'test' });
}

function caughtUpTo(source: HttpPollingSource, t: number): boolean {
  return source.keyStatus().every((status) => status.position > t);
}

/** Whether every station has delivered its last observation in the fixtures. */
function deliveredAll(source: HttpPollingSource, noaa: FakeNoaaServer, product: 'water_level' | 'hourly_height'): boolean {
  return source.keyStatus().every((status) => status.position > noaa.observations(product, status.key).at(-1)!.t);
}

function keyOf(row: Row): string {
  return `${row.station as string}|${row.t as number}`;
}

function problemsOf(config: Partial<NoaaSourceConfig>): string[] {
  const problems: string[] = [];
  const reporter: Reporter = {
    atValue: (path, message) => problems.push(`${path.join('.')}: ${message}`),
    atKey: (path, message) => problems.push(`${path.join('.')}: ${message}`),
    atOwner: (path, message) => problems.push(`${path.join('.')}: ${message}`),
  };
  check(config, reporter);
  return problems;
}

describe('noaa source: requests', () => {
  it('writes times the way the datagetter takes them', () => {
    assert.equal(datagetterTime(Date.UTC(2019, 0, 31, 23, 59)), '20190131 23:59');
    assert.equal(datagetterTime(Date.UTC(2005, 8, 1, 1, 0, 30)), '20050901 01:00');
  });

  it("cuts a range at the product's maximum span and says when it is settled", () => {
    const jan1 = Date.UTC(2019, 0, 1);
    assert.deepEqual(noaaRange('water_level', jan1, Date.UTC(2019, 2, 1), 0), { begin: jan1, end: Date.UTC(2019, 0, 31, 23, 59), more: true, settled: true });
    assert.deepEqual(noaaRange('hourly_height', jan1, Date.UTC(2020, 5, 1), 0), { begin: jan1, end: Date.UTC(2019, 11, 31, 23, 59), more: true, settled: true });
    // The present: up to the current minute, not settled.
    const now = Date.UTC(2019, 0, 10, 12, 3, 30);
    assert.deepEqual(noaaRange('water_level', Date.UTC(2019, 0, 10, 11, 54) + 1, now, 0), { begin: Date.UTC(2019, 0, 10, 11, 54), end: Date.UTC(2019, 0, 10, 12, 3), more: false, settled: false });
    // Lookback starts earlier; a range ending within the last day is not settled.
    assert.deepEqual(noaaRange('water_level', now - 40 * DAY, now, HOUR), { begin: Date.UTC(2018, 11, 1, 11, 3), end: Date.UTC(2018, 11, 1, 11, 3) + 31 * DAY - MINUTE, more: true, settled: true });
    assert.equal(noaaRange('water_level', now - 31 * DAY, now, 0).settled, false);
  });

  it('tiles any backlog with back-to-back requests, none longer than the maximum (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(NOAA_PRODUCTS) as Array<keyof typeof NOAA_PRODUCTS>)),
        fc.integer({ min: 0, max: 800 * 24 * 60 }),
        fc.integer({ min: 0, max: 59_999 }),
        (product, backlogMinutes, second) => {
          const now = Date.UTC(2024, 0, 1) + second;
          let position = Date.UTC(2024, 0, 1) - backlogMinutes * MINUTE;
          let covered = Math.floor(position / MINUTE) * MINUTE;
          for (let requests = 0; ; requests++) {
            assert.ok(requests < 100);
            const range = noaaRange(product, position, now, 0);
            assert.equal(range.begin, covered, 'no gap, no overlap');
            assert.ok(range.end - range.begin <= NOAA_PRODUCTS[product].maxSpanMs - MINUTE);
            covered = range.end + MINUTE;
            if (!range.more) break;
            position = covered;
          }
          assert.equal(covered, Math.floor(now / MINUTE) * MINUTE + MINUTE, 'up to the present minute');
        },
      ),
    );
  });
});

describe('noaa source: config', () => {
  it('fills in polite defaults, per product, and station facts from the bundled table', () => {
    const spec = normalize({ stations: ['8454000', { id: '9999999', name: 'Somewhere', lat: 10, lon: 20 }] }, { job: 'j' });
    assert.deepEqual(spec, {
      stations: ['8454000', '9999999'],
      stationInfo: {
        '8454000': { id: '8454000', name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007 },
        '9999999': { id: '9999999', name: 'Somewhere', lat: 10, lon: 20 },
      },
      product: 'water_level',
      datum: 'MLLW',
      units: 'metric',
      application: 'tideflow',
      baseUrl: 'https://api.tidesandcurrents.noaa.gov/api/prod/datagetter',
      format: 'json',
      intervalMs: 6 * MINUTE,
      backfillMs: 30 * DAY,
      lookbackMs: 0,
      timeoutMs: 30_000,
      concurrency: 2,
      requestGapMs: 3000,
      retry: { attempts: 4, initialDelayMs: 1000, maxDelayMs: 30_000 },
      headers: {},
      stopWhenCaughtUp: false,
    });
    assert.equal(normalize({ stations: ['8454000'], product: 'hourly_height' }, { job: 'j' }).intervalMs, HOUR);
    assert.equal(normalize({ stations: ['8454000'], product: 'hourly_height', interval: '10m' }, { job: 'j' }).intervalMs, 10 * MINUTE);
  });

  it('reports stations listed twice, and unknown stations whose answers will not name them', () => {
    assert.deepEqual(problemsOf({ stations: ['8454000', '8454000'] }), ['stations.1: station 8454000 is listed twice']);
    assert.deepEqual(problemsOf({ stations: ['1234567'], product: 'predictions' }), [
      'stations.0: predictions answers carry no station metadata and 1234567 is not in data/bundled/stations.json: write it as { id: "1234567", name: ..., lat: ..., lon: ... }',
    ]);
    assert.deepEqual(problemsOf({ stations: ['1234567'], format: 'csv' }).length, 1);
    assert.deepEqual(problemsOf({ stations: ['1234567', { id: '7654321', name: 'X', lat: 1, lon: 2 }] }), []);
    assert.throws(() => noaaSource(normalize({ stations: ['1234567'], product: 'predictions' }, { job: 'j' })), UsageError);
  });
});

describe('noaa source: against a NOAA-like server', { timeout: 60_000 }, () => {
  const servers: FakeNoaaServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });
  const start = async (clock: VirtualClock, options: { align?: { product: 'water_level' | 'hourly_height'; start: number } } = {}) => {
    const noaa = await FakeNoaaServer.start({ now: clock.now, ...options });
    servers.push(noaa);
    return noaa;
  };

  it("asks the datagetter as NOAA documents it: GMT, JSON, datum, units, the caller's application", async () => {
    const clock = new VirtualClock(Date.UTC(2019, 0, 2, 0, 0, 20));
    const noaa = await start(clock);
    const source = noaaSource(specFor(noaa, { backfill: '1d' }), { now: clock.now, sleep: clock.sleep });
    const polled = await poll(source, {}, (p) => p.rows.length > 0);
    assert.deepEqual(noaa.requests[0].params, {
      station: '9414290',
      product: 'water_level',
      begin_date: '20190101 00:00',
      end_date: '20190102 00:00',
      datum: 'MLLW',
      units: 'metric',
      time_zone: 'gmt',
      format: 'json',
      application: 'tideflow-test',
    });
    // The backfill starts a day before the clock, 20 s past the minute: 00:00 is before it.
    assert.deepEqual(polled.rows, noaa.expectedRows('water_level', '9414290', Date.UTC(2019, 0, 1, 0, 0, 20), Date.UTC(2019, 0, 2)));
    assert.deepEqual(polled.batches[0].source, { partition: 'noaa:9414290/water_level', fromOffset: Date.UTC(2019, 0, 1, 0, 0, 20), toOffset: Date.UTC(2019, 0, 2) + 1 });
  });

  it('backfills and then polls five stations: every observation served, once, in order', async () => {
    const S = Date.UTC(2024, 2, 1);
    const clock = new VirtualClock(S + 10 * DAY);
    const noaa = await start(clock, { align: { product: 'hourly_height', start: S } });
    const stations = noaa.stationsWith('hourly_height');
    assert.equal(stations.length, 5);
    const source = noaaSource(specFor(noaa, { stations, product: 'hourly_height', interval: '6h', backfill: '30d' }), { now: clock.now, sleep: clock.sleep });
    const last = Math.max(...stations.map((station) => noaa.observations('hourly_height', station).at(-1)!.t));
    const polled = await poll(source, {}, () => deliveredAll(source, noaa, 'hourly_height'));
    let served = 0;
    for (const station of stations) {
      const expected = noaa.expectedRows('hourly_height', station, S - 20 * DAY, Number.POSITIVE_INFINITY);
      served += expected.length;
      assert.deepEqual(polled.rows.filter((row) => row.station === station), expected, `station ${station}`);
    }
    assert.equal(polled.rows.length, served);
    assert.equal(new Set(polled.rows.map(keyOf)).size, served, 'no observation twice');
    // In time order across the stations: a topic partition the stations share (keyed by station) stays in order.
    const times = polled.rows.map((row) => row.t as number);
    assert.equal(times.filter((t, i) => i > 0 && t < times[i - 1]).length, 0, 'observations in event-time order across the stations');
    assert.deepEqual(polled.deadLetters, []);
    assert.equal(source.stats.rowsDelivered, served);
    assert.equal(source.stats.deadLetters, 0);
    // Each request within the hourly span, every one naming the caller.
    for (const seen of noaa.requests) {
      assert.equal(seen.params.application, 'tideflow-test');
      assert.ok(seen.end! - seen.begin! <= 365 * DAY);
    }
    // Polled on the interval once caught up: about (last - start) / 6 h polls per station, plus the backfill.
    const perStation = noaa.requests.filter((seen) => seen.station === '8410140').length;
    assert.ok(perStation >= Math.floor((last - clock.time + 24 * DAY) / (6 * HOUR)) - 2 && perStation <= 100, `${perStation} polls of 8410140`);
  });

  it('splits a long backfill into requests of at most 31 days and skips a range NOAA twice calls empty', async () => {
    const clock = new VirtualClock(Date.UTC(2019, 0, 7, 12));
    const noaa = await start(clock);
    const lines: string[] = [];
    const source = noaaSource(specFor(noaa, { backfill: '40d' }), { now: clock.now, sleep: clock.sleep, log: (line) => lines.push(line) });
    const last = noaa.observations('water_level', '9414290').at(-1)!.t;
    const polled = await poll(source, {}, () => caughtUpTo(source, last));
    assert.deepEqual(polled.rows, noaa.expectedRows('water_level', '9414290', 0, Number.POSITIVE_INFINITY));
    const ranges = noaa.requests.map((seen) => [seen.params.begin_date, seen.params.end_date, seen.outcome.replace(/ \.$/, '')]);
    assert.deepEqual(ranges.slice(0, 3), [
      ['20181128 12:00', '20181229 11:59', `error:${NO_DATA_MESSAGE}`],
      ['20181128 12:00', '20181229 11:59', `error:${NO_DATA_MESSAGE}`],
      // The range is asked after the second empty answer, one interval later: up to 12:06.
      ['20181229 12:00', '20190107 12:06', `rows:${6 * 240 + 121 + 1}`],
    ]);
    assert.ok(noaa.requests[1].at - noaa.requests[0].at >= 6 * MINUTE, 'asked again one interval later');
    assert.deepEqual(
      polled.deadLetters.map((letter) => [letter.reason, letter.stage, letter.offset]),
      [
        [NOAA_ERROR, 'poll', Date.UTC(2018, 10, 28, 12)],
        [NOAA_ERROR, 'poll', Date.UTC(2018, 10, 28, 12)],
        [`no observations in 2018-11-28 12:00 .. 2018-12-29 11:59 (${NOAA_ERROR}, twice an interval apart): range skipped`, 'poll', Date.UTC(2018, 10, 28, 12)],
      ],
    );
    assert.equal(source.stats.skippedRanges, 1);
    assert.ok(lines.some((line) => /which should be final; asking again in 6 min/.test(line)));
  });

  describe('faults: the right outcome, nothing lost, nothing doubled', () => {
    const JAN2 = Date.UTC(2019, 0, 2);
    const until = JAN2 + 2 * HOUR;
    /** One station from 2019-01-02 00:00 with a day of backfill, polled every 6 minutes until 02:00. */
    const scenario = async (faults: Array<{ fault: NoaaFault; nth?: number; times?: number }>, config: Partial<NoaaSourceConfig> = {}) => {
      const clock = new VirtualClock(JAN2);
      const noaa = await start(clock);
      const source = noaaSource(specFor(noaa, { backfill: '1d', timeout: '200ms', retry: { attempts: 4, initialDelay: '1s', maxDelay: '30s' }, ...config }), {
        now: clock.now,
        sleep: clock.sleep,
        random: () => 1,
      });
      // Faults for a later request: let the earlier ones through first.
      let seen = 0;
      const pending = [...faults];
      const injectDue = () => {
        while (pending.length > 0 && (pending[0].nth ?? 1) <= seen + 1) {
          const { fault, times } = pending.shift()!;
          noaa.inject(fault, { times });
        }
      };
      injectDue();
      const polled = await poll(source, {}, (p) => {
        seen = noaa.requests.length;
        injectDue();
        return caughtUpTo(source, until) && p.rows.length > 0;
      });
      const expected = noaa.expectedRows('water_level', '9414290', JAN2 - DAY, Math.max(...polled.rows.map((row) => row.t as number)));
      assert.deepEqual(polled.rows, expected, 'every observation once, in order');
      assert.equal(noaa.pendingFaults(), 0, 'every fault was met');
      // The books balance: what the run counts as records in is rows plus dead letters.
      assert.equal(polled.rows.length + polled.deadLetters.length, source.stats.rowsDelivered + source.stats.deadLetters);
      return { polled, noaa, source, clock };
    };

    it("NOAA's error body with HTTP 200: a dead letter with NOAA's message and the body, then the next poll", async () => {
      const { polled, source } = await scenario([{ fault: { kind: 'error-body' } }]);
      assert.equal(polled.deadLetters.length, 1);
      const [letter] = polled.deadLetters;
      assert.equal(letter.reason, NOAA_ERROR);
      assert.equal(letter.partition, 'noaa:9414290/water_level');
      const payload = letter.payload as Row;
      assert.equal(payload.status, 200);
      assert.equal(payload.body, `{"error": {"message":" ${NO_DATA_MESSAGE}"}}\n\n`);
      assert.match(payload.url as string, /datagetter\?station=9414290&product=water_level&begin_date=20190101%2000%3A00&end_date=20190102%2000%3A00/);
      assert.equal(source.stats.retries, 0);
      assert.equal(source.stats.failedPolls, 1);
    });

    it('any other NOAA error: a dead letter carrying its words', async () => {
      const { polled } = await scenario([{ fault: { kind: 'error-body', message: 'Wrong Datum: Datum cannot be null or empty' } }]);
      assert.deepEqual(polled.deadLetters.map((letter) => letter.reason), ['NOAA CO-OPS API error: Wrong Datum: Datum cannot be null or empty']);
    });

    it('500: retried, no dead letter', async () => {
      const { polled, source } = await scenario([{ fault: { kind: 'status', status: 500 } }]);
      assert.deepEqual(polled.deadLetters, []);
      assert.equal(source.stats.retries, 1);
    });

    it('503 with Retry-After: retried no sooner than asked', async () => {
      const { polled, source, noaa } = await scenario([{ fault: { kind: 'unavailable', retryAfterSeconds: 20 } }]);
      assert.deepEqual(polled.deadLetters, []);
      assert.equal(source.stats.retries, 1);
      assert.ok(noaa.requests[1].at - noaa.requests[0].at >= 20_000);
    });

    it('429 with Retry-After: retried no sooner than asked, and counted', async () => {
      const { polled, source, noaa } = await scenario([{ fault: { kind: 'rate-limited', retryAfterSeconds: 7 } }]);
      assert.deepEqual(polled.deadLetters, []);
      assert.equal(source.stats.rateLimited, 1);
      assert.ok(noaa.requests[1].at - noaa.requests[0].at >= 7_000);
    });

    it('503 on every attempt: a dead letter naming the attempts; the next poll reads the range', async () => {
      const { polled, source, noaa } = await scenario([{ fault: { kind: 'unavailable', retryAfterSeconds: 1 }, times: 4 }]);
      assert.equal(polled.deadLetters.length, 1);
      assert.equal(polled.deadLetters[0].reason, 'HTTP 503 Service Unavailable (Retry-After 1 s) (4 attempts)');
      assert.match((polled.deadLetters[0].payload as Row).body as string, /Scheduled maintenance/);
      assert.equal(source.stats.retries, 3);
      assert.equal(noaa.requests[4].params.begin_date, '20190101 00:00', 'the failed range is asked again');
    });

    it('a Retry-After longer than the interval: no retry, a dead letter, and no poll before the server said', async () => {
      const { polled, source, noaa } = await scenario([{ fault: { kind: 'unavailable', retryAfterSeconds: 3600 } }]);
      assert.equal(polled.deadLetters.length, 1);
      assert.equal(source.stats.retries, 0);
      assert.ok(noaa.requests[1].at - noaa.requests[0].at >= HOUR);
    });

    it('an HTML maintenance page with HTTP 200: a dead letter, not data', async () => {
      const { polled } = await scenario([{ fault: { kind: 'html' } }]);
      assert.equal(polled.deadLetters.length, 1);
      assert.match(polled.deadLetters[0].reason, /^the answer is HTML or XML, not JSON \(a maintenance or error page\?\): "<!DOCTYPE html>/);
      assert.match((polled.deadLetters[0].payload as Row).body as string, /^<!DOCTYPE html>/);
    });

    it('a truncated body: a dead letter', async () => {
      const { polled } = await scenario([{ fault: { kind: 'truncated' } }]);
      assert.equal(polled.deadLetters.length, 1);
      assert.match(polled.deadLetters[0].reason, /^the answer is truncated or malformed JSON/);
    });

    it('a connection cut mid-body: retried', async () => {
      const { polled, source } = await scenario([{ fault: { kind: 'reset' } }]);
      assert.deepEqual(polled.deadLetters, []);
      assert.equal(source.stats.retries, 1);
    });

    it('a hang past the timeout: retried', async () => {
      const { polled, source } = await scenario([{ fault: { kind: 'hang' } }]);
      assert.deepEqual(polled.deadLetters, []);
      assert.equal(source.stats.timeouts, 1);
      assert.equal(source.stats.retries, 1);
    });

    it('404: a dead letter, not retried', async () => {
      const { polled, source } = await scenario([{ fault: { kind: 'status', status: 404 } }]);
      assert.deepEqual(polled.deadLetters.map((letter) => [letter.reason, (letter.payload as Row).status]), [['HTTP 404 Not Found', 404]]);
      assert.equal(source.stats.retries, 0);
    });

    it('an empty data array at the present: nothing delivered, nothing lost', async () => {
      const { polled } = await scenario([{ fault: { kind: 'empty-data' }, nth: 3 }]);
      assert.deepEqual(polled.deadLetters, []);
    });

    it('a duplicated overlap: each observation delivered once', async () => {
      const { polled, source } = await scenario([{ fault: { kind: 'duplicate-overlap', rows: 3 }, nth: 2 }]);
      assert.deepEqual(polled.deadLetters, []);
      assert.ok(source.stats.rowsSkipped >= 6, `${source.stats.rowsSkipped} rows skipped`);
    });

    it('an empty answer, then "No data", for a settled range that has data: asked again, nothing lost', async () => {
      for (const fault of [{ kind: 'empty-data' }, { kind: 'error-body' }] as NoaaFault[]) {
        const clock = new VirtualClock(Date.UTC(2019, 0, 9));
        const noaa = await start(clock);
        const source = noaaSource(specFor(noaa, { backfill: '33d' }), { now: clock.now, sleep: clock.sleep });
        noaa.inject(fault);
        const last = noaa.observations('water_level', '9414290').at(-1)!.t;
        const polled = await poll(source, {}, () => caughtUpTo(source, last));
        assert.deepEqual(polled.rows, noaa.expectedRows('water_level', '9414290', 0, Number.POSITIVE_INFINITY), fault.kind);
        assert.equal(polled.deadLetters.length, fault.kind === 'error-body' ? 1 : 0);
        assert.equal(source.stats.skippedRanges, 0);
        assert.equal(noaa.requests[0].params.begin_date, noaa.requests[1].params.begin_date, 'the settled range is asked again');
      }
    });
  });

  it('a failing station is visible: state line and counters', async () => {
    const clock = new VirtualClock(Date.UTC(2019, 0, 2));
    const noaa = await start(clock);
    const source = noaaSource(specFor(noaa, { stations: ['9414290', '8729108'], backfill: '1d' }), { now: clock.now, sleep: clock.sleep });
    noaa.inject({ kind: 'error-body', message: 'The station is not a valid station or there is system error.' }, { station: '8729108', times: 2 });
    let state: string | undefined;
    await poll(source, {}, (p) => {
      if (p.deadLetters.length === 2) state = source.describeState();
      return state !== undefined;
    });
    assert.match(state!, /^NOAA CO-OPS water_level \(2 stations, 127\.0\.0\.1:\d+\): 2 keys, /);
    assert.match(state!, /1 failing \(8729108: 2 failed polls in a row, last: NOAA CO-OPS API error: The station is not a valid station or there is system error\.\)/);
    assert.equal(source.stats.failingKeys, 1);
    assert.equal(source.stats.failedPolls, 2);
    assert.equal(source.keyStatus().find((status) => status.key === '8729108')!.consecutiveFailures, 2);
  });

  describe('restart from the positions', () => {
    const S = Date.UTC(2024, 2, 1);
    const setUp = async () => {
      const clock = new VirtualClock(S + 5 * DAY);
      const noaa = await start(clock, { align: { product: 'hourly_height', start: S } });
      const stations = noaa.stationsWith('hourly_height');
      const spec = specFor(noaa, { stations, product: 'hourly_height', interval: '6h', backfill: '30d' });
      const all = () => stations.flatMap((station) => noaa.expectedRows('hourly_height', station, 0, Number.POSITIVE_INFINITY));
      return { clock, noaa, stations, spec, all };
    };

    it('after a clean stop: no gap, no repeat, and the backfill is not read again', async () => {
      const { clock, noaa, spec, all } = await setUp();
      const first = await poll(noaaSource(spec, { now: clock.now, sleep: clock.sleep }), {}, () => clock.time >= S + 15 * DAY);
      const requestsBefore = noaa.requests.length;
      clock.time += DAY + 7 * HOUR; // down for a while
      const source = noaaSource(spec, { now: clock.now, sleep: clock.sleep });
      const second = await poll(source, first.positions, () => deliveredAll(source, noaa, 'hourly_height'));
      const rows = [...first.rows, ...second.rows];
      assert.equal(new Set(rows.map(keyOf)).size, rows.length, 'no observation twice');
      assert.deepEqual(new Set(rows.map(keyOf)), new Set(all().map(keyOf)), 'every observation');
      for (const seen of noaa.requests.slice(requestsBefore, requestsBefore + 5)) {
        const position = first.positions[`noaa:${seen.station}/hourly_height`];
        assert.equal(seen.params.begin_date, datagetterTime(Math.floor(position / MINUTE) * MINUTE), `${seen.station} resumes at its position`);
      }
    });

    it('after a crash between reading a batch and checkpointing it: only that batch comes again', async () => {
      const { clock, noaa, spec, all } = await setUp();
      const first = await poll(noaaSource(spec, { now: clock.now, sleep: clock.sleep }), {}, () => clock.time >= S + 12 * DAY);
      // The last batch was read but its checkpoint never written.
      const lost = first.batches.at(-1)!;
      const checkpointed = { ...first.positions, [lost.source.partition]: lost.source.fromOffset };
      const source = noaaSource(spec, { now: clock.now, sleep: clock.sleep });
      const second = await poll(source, checkpointed, () => deliveredAll(source, noaa, 'hourly_height'));
      const rows = [...first.rows, ...second.rows];
      const counts = new Map<string, number>();
      for (const row of rows) counts.set(keyOf(row), (counts.get(keyOf(row)) ?? 0) + 1);
      const repeated = [...counts].filter(([, count]) => count > 1).map(([key]) => key);
      assert.deepEqual(new Set(repeated), new Set(lost.rows!.map(keyOf)), 'the repeats are exactly the unprocessed batch (removed by the job\'s dedupe step)');
      assert.deepEqual(new Set(counts.keys()), new Set(all().map(keyOf)));
    });
  });

  it('with lookback, repeats only observations within the lookback', async () => {
    const clock = new VirtualClock(Date.UTC(2019, 0, 2));
    const noaa = await start(clock);
    const source = noaaSource(specFor(noaa, { backfill: '1d', lookback: '30m' }), { now: clock.now, sleep: clock.sleep });
    const polled = await poll(source, {}, () => caughtUpTo(source, Date.UTC(2019, 0, 2, 3)));
    let newest = Number.NEGATIVE_INFINITY;
    const seen = new Set<number>();
    let repeats = 0;
    for (const row of polled.rows) {
      const t = row.t as number;
      if (seen.has(t)) {
        repeats++;
        assert.ok(t >= newest - 30 * MINUTE, 'a repeat lies within the lookback');
      }
      seen.add(t);
      newest = Math.max(newest, t);
    }
    assert.ok(repeats > 0);
    assert.deepEqual([...seen], noaa.expectedRows('water_level', '9414290', 0, newest).map((row) => row.t));
  });

  it('reads predictions (no metadata in the answer) with the bundled station facts', async () => {
    const clock = new VirtualClock(Date.UTC(2019, 0, 2));
    const noaa = await start(clock);
    const source = noaaSource(specFor(noaa, { stations: ['8443970'], product: 'predictions', backfill: '1h' }), { now: clock.now, sleep: clock.sleep });
    const polled = await poll(source, {}, (p) => p.rows.length > 0);
    assert.equal(polled.rows.length, 11);
    assert.deepEqual(Object.keys(polled.rows[0]), ['station', 'name', 'lat', 'lon', 't', 'v', 's', 'f', 'q']);
    assert.deepEqual({ ...polled.rows[0], v: 0 }, { station: '8443970', name: 'BOSTON', lat: 42.3539, lon: -71.0503, t: Date.UTC(2019, 0, 1, 23), v: 0, s: null, f: null, q: null });
    assert.ok(polled.rows.every((row) => typeof row.v === 'number'));
  });

  it('reads CSV answers like JSON ones (flags, quality, the null reading)', async () => {
    const clock = new VirtualClock(Date.UTC(2018, 9, 12, 1));
    const noaa = await start(clock);
    const read = async (format: 'json' | 'csv') => {
      const source = noaaSource(specFor(noaa, { stations: ['8729108'], format, backfill: '4d', stopWhenCaughtUp: true }), { now: clock.now, sleep: clock.sleep });
      return (await poll(source, {}, () => false)).rows;
    };
    const json = await read('json');
    assert.equal(json.length, 725);
    assert.deepEqual(await read('csv'), json);
    assert.deepEqual(json.find((row) => row.v === null), { station: '8729108', name: 'Panama City', lat: 30.1497, lon: -85.6644, t: Date.UTC(2018, 9, 10, 18, 18), v: null, s: null, f: '1,1,1,1', q: 'p' });
  });

  it('asks in feet when told to and delivers metres', async () => {
    const clock = new VirtualClock(Date.UTC(2019, 0, 1, 1));
    const noaa = await start(clock);
    const source = noaaSource(specFor(noaa, { units: 'english', backfill: '1h', stopWhenCaughtUp: true }), { now: clock.now, sleep: clock.sleep });
    const polled = await poll(source, {}, () => false);
    assert.equal(noaa.requests[0].params.units, 'english');
    const expected = noaa.observations('water_level', '9414290').slice(0, 11).map((obs) => feetToMetres(Number((obs.v! / 0.3048).toFixed(3))));
    assert.deepEqual(polled.rows.map((row) => row.v), expected);
    assert.equal(polled.rows[0].v, 0.432816, '1.42 ft');
  });

  it('stops at once when asked, even while waiting for the next poll', async () => {
    const clock = new VirtualClock(Date.UTC(2019, 0, 2));
    const noaa = await start(clock);
    // The wall clock: the next poll is 6 real minutes away.
    const source = noaaSource(specFor(noaa, { backfill: '1h' }));
    const iterator = source.batches({})[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    const waiting = iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await iterator.return?.();
    assert.equal((await waiting).done, true);
    assert.ok(Date.now() - started < 1000);
    await source.close();
    // close() alone, with the consumer holding a batch and never asking for the next: it returns.
    const held = noaaSource(specFor(noaa, { backfill: '1h' }));
    assert.equal((await held.batches({})[Symbol.asyncIterator]().next()).done, false);
    const closing = Date.now();
    await held.close();
    assert.ok(Date.now() - closing < 1000);
  });
});
