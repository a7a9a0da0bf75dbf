import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LUNAR_DAY_MS, LunarDayMeanAssigner, LunarTransitAssigner, MoonTransitTable } from './lunar-day';

const HOUR = 3_600_000;
const MINUTE = 60_000;

describe('LunarDayMeanAssigner', () => {
  it('windows are exactly 89,428,329 ms (24 h 50 min 28.329 s)', () => {
    assert.equal(LUNAR_DAY_MS, 89_428_329);
    assert.equal(LUNAR_DAY_MS, Math.round(2 * 12.4206012 * HOUR));
    const out: number[] = [];
    new LunarDayMeanAssigner(0).assign(Date.parse('2020-09-24T04:18:00Z'), {}, out);
    assert.equal(out[1] - out[0], LUNAR_DAY_MS);
    assert.equal(out[0] % LUNAR_DAY_MS, 0);
  });

  it('aligns to the anchor, before and after it', () => {
    //  t:  A - L            A            A + L          A + 2L
    //       [----w-1-------)[----w0------)[----w1-------)
    //        a            b c           d               (a A-L, b A-1, c A, d A+L-1)
    const anchor = Date.parse('2020-01-01T00:00:00Z');
    const lunar = new LunarDayMeanAssigner(anchor);
    const cases: Array<[number, number]> = [
      [anchor - LUNAR_DAY_MS, anchor - LUNAR_DAY_MS],
      [anchor - 1, anchor - LUNAR_DAY_MS],
      [anchor, anchor],
      [anchor + LUNAR_DAY_MS - 1, anchor],
      [anchor + LUNAR_DAY_MS, anchor + LUNAR_DAY_MS],
      [anchor - 1000 * LUNAR_DAY_MS + 5, anchor - 1000 * LUNAR_DAY_MS],
    ];
    for (const [t, start] of cases) {
      const out: number[] = [];
      lunar.assign(t, {}, out);
      assert.deepEqual(out, [start, start + LUNAR_DAY_MS], `t = anchor ${t - anchor >= 0 ? '+' : ''}${t - anchor}`);
    }
  });
});

describe('MoonTransitTable / LunarTransitAssigner', () => {
  // A few NOAA CO-OPS stations spread over longitudes and latitudes.
  const stations = [
    { name: 'Newport, RI', lon: -71.3267, lat: 41.505 },
    { name: 'The Battery, NY', lon: -74.0142, lat: 40.7006 },
    { name: 'Honolulu, HI', lon: -157.867, lat: 21.3067 },
    { name: 'Nome, AK', lon: -165.43, lat: 64.5 },
    { name: 'Pago Pago', lon: -170.69, lat: -14.28 },
  ];

  it('windows run transit to transit: ~24 h 50 min (±1 h) and contiguous', () => {
    //  t:   transit k        transit k+1        transit k+2
    //       [------------------)[------------------)
    //       a              b    c                         end of one window = start of the next
    const from = Date.parse('2020-09-01T00:00:00Z');
    for (const station of stations) {
      const lunar = new LunarTransitAssigner('lon', 'lat');
      const row = { lon: station.lon, lat: station.lat };
      let previousEnd = NaN;
      let t = from;
      for (let k = 0; k < 40; k++) {
        const out: number[] = [];
        assert.equal(lunar.assign(t, row, out), undefined);
        const [start, end] = out;
        assert.ok(start <= t && t < end, `${station.name}: ${t} in [${start}, ${end})`);
        const length = end - start;
        assert.ok(Math.abs(length - (24 * HOUR + 50 * MINUTE)) <= HOUR, `${station.name}: length ${length / HOUR} h`);
        if (k > 0) assert.equal(start, previousEnd, `${station.name}: contiguous at window ${k}`);
        previousEnd = end;
        t = end; // the first instant of the next window
      }
    }
  });

  it('the window start is an upper transit: the Moon is due south/north (hour angle 0)', async () => {
    const { Body, Equator, Observer, SiderealTime } = await import('astronomy-engine');
    const station = stations[0];
    const table = new MoonTransitTable(station.lon, station.lat);
    table.find(Date.parse('2020-09-24T04:18:00Z'));
    const observer = new Observer(station.lat, station.lon, 0);
    const time = new Date(table.start);
    const equator = Equator(Body.Moon, time, observer, true, true);
    let hourAngle = (SiderealTime(time) + station.lon / 15 - equator.ra) % 24;
    if (hourAngle > 12) hourAngle -= 24;
    if (hourAngle < -12) hourAngle += 24;
    assert.ok(Math.abs(hourAngle) < 1 / 60, `hour angle ${hourAngle} h`);
  });

  it('is deterministic: the same windows whatever order times are looked up in', () => {
    const station = stations[2];
    const times = Array.from({ length: 60 }, (_, k) => Date.parse('2019-12-20T00:00:00Z') + k * 13 * HOUR);
    const forward = new MoonTransitTable(station.lon, station.lat);
    const backward = new MoonTransitTable(station.lon, station.lat);
    const a = times.map((t) => (forward.find(t), [forward.start, forward.end]));
    const b = [...times].reverse().map((t) => (backward.find(t), [backward.start, backward.end])).reverse();
    assert.deepEqual(a, b);
  });

  it('handles times before 1970', () => {
    const table = new MoonTransitTable(-71.3267, 41.505);
    const t = Date.parse('1969-07-20T20:17:00Z');
    table.find(t);
    assert.ok(table.start <= t && t < table.end);
    assert.ok(Math.abs(table.end - table.start - 24.84 * HOUR) < HOUR);
  });

  it('a row without a usable position cannot be placed', () => {
    const lunar = new LunarTransitAssigner('lon', 'lat');
    const out: number[] = [];
    assert.match(lunar.assign(0, { lon: null, lat: 41 }, out) ?? '', /longitude .* 'lon'/);
    assert.match(lunar.assign(0, { lon: -71, lat: 123 }, out) ?? '', /latitude .* 'lat'/);
    assert.deepEqual(out, []);
  });

  it('is fast once a station is warm', () => {
    const lunar = new LunarTransitAssigner('lon', 'lat');
    const rows = stations.map((s) => ({ lon: s.lon, lat: s.lat }));
    const start = Date.parse('2020-09-01T00:00:00Z');
    const out: number[] = [];
    for (const row of rows) lunar.assign(start, row, out); // warm up the first page per station
    const began = performance.now();
    let n = 0;
    for (let t = start; t < start + 2 * 24 * HOUR; t += 6 * MINUTE) {
      for (const row of rows) {
        out.length = 0;
        lunar.assign(t, row, out);
        n++;
      }
    }
    const perRecordUs = ((performance.now() - began) * 1000) / n;
    assert.ok(perRecordUs < 20, `${perRecordUs.toFixed(2)} us per record`);
  });
});
