import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Row } from '../core/batch';
import { DecodeError, UsageError } from '../core/errors';
import { createCsvDecoder, encodeCsvLine, feetToMetres, TIDE_CSV_HEADER } from './csv';
import { hasUnclosedQuote, splitCsvLine } from './csv-line';
import { loadStationTable } from './station-table';
import { stationIdFromFileName } from './stations';

// Compiled to dist/engine/codecs: the fixtures stay in the source tree.
const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'engine', 'codecs', 'fixtures');

/** Decode a fixture the way the file source does: header, then non-blank lines. */
function decodeFixture(name: string, options: Parameters<typeof createCsvDecoder>[1] = {}): { layout: string; rows: Row[] } {
  const file = path.join(FIXTURES, name);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const decoder = createCsvDecoder(lines[0], { fileName: file, ...options });
  const rows = lines.slice(1).filter((line) => line.trim() !== '').map((line) => decoder.decode(line));
  return { layout: decoder.layout, rows };
}

const utc = (y: number, mo: number, d: number, h: number, mi: number) => Date.UTC(y, mo - 1, d, h, mi);

describe('csv: NOAA web export', () => {
  it('reads Verified feet as metres with q = v (9414290, 2019-01)', () => {
    const { layout, rows } = decodeFixture('9414290_2019-01_excerpt.csv');
    assert.equal(layout, 'noaa-web-export');
    assert.deepEqual(rows, [
      { station: '9414290', name: 'SAN FRANCISCO (Golden Gate)', lat: 37.8063, lon: -122.4659, t: utc(2019, 1, 1, 0, 0), v: 0.432816, s: null, f: null, q: 'v' },
      { station: '9414290', name: 'SAN FRANCISCO (Golden Gate)', lat: 37.8063, lon: -122.4659, t: utc(2019, 1, 1, 0, 6), v: 0.4572, s: null, f: null, q: 'v' },
      { station: '9414290', name: 'SAN FRANCISCO (Golden Gate)', lat: 37.8063, lon: -122.4659, t: utc(2019, 1, 1, 0, 12), v: 0.484632, s: null, f: null, q: 'v' },
    ]);
  });

  it('falls back to Preliminary when Verified is "-", never uses Predicted (9414290, 2019-07)', () => {
    const { rows } = decodeFixture('9414290_2019-07_excerpt.csv');
    assert.deepEqual(rows.map((r) => [r.t, r.v, r.q]), [
      [utc(2019, 7, 1, 0, 0), 0.926592, 'p'],
      [utc(2019, 7, 1, 0, 6), 0.938784, 'p'],
      [utc(2019, 7, 1, 0, 12), 0.954024, 'p'],
    ]);
  });

  it('keeps negative values (9410230, MSL datum)', () => {
    const { rows } = decodeFixture('9410230_2018-08_excerpt.csv');
    assert.deepEqual(rows.map((r) => [r.station, r.t, r.v]), [
      ['9410230', utc(2018, 8, 1, 0, 0), -0.094488],
      ['9410230', utc(2018, 8, 1, 1, 0), -0.149352],
      ['9410230', utc(2018, 8, 1, 2, 0), -0.064008],
    ]);
  });

  it('reads an unquoted metric export with only Verified (8410140)', () => {
    const { layout, rows } = decodeFixture('8410140_2019_excerpt.csv');
    assert.equal(layout, 'noaa-web-export');
    assert.deepEqual(rows[0], { station: '8410140', name: 'EASTPORT', lat: 44.9046, lon: -66.9829, t: utc(2019, 1, 1, 0, 0), v: 5.566, s: null, f: null, q: 'v' });
    assert.deepEqual(rows.map((r) => r.v), [5.566, 4.955, 3.968]);
  });

  it('gives v = null (not a dead letter) when neither observed column has a value', () => {
    const decoder = createCsvDecoder('"Date","Time (GMT)","Predicted (ft)","Preliminary (ft)","Verified (ft)"', { station: '9414290' });
    assert.deepEqual(decoder.decode('"2019/01/01","00:00","1.548","-","-"'), {
      station: '9414290', name: 'SAN FRANCISCO (Golden Gate)', lat: 37.8063, lon: -122.4659, t: utc(2019, 1, 1, 0, 0), v: null, s: null, f: null, q: null,
    });
  });

  it('refuses local-time exports and exports without observed columns', () => {
    assert.throws(() => createCsvDecoder('Date,Time (LST/LDT),Verified (ft)', { station: '9414290' }), (e: unknown) => e instanceof UsageError && /not UTC/.test(e.message));
    assert.throws(() => createCsvDecoder('Date,Time (GMT),Predicted (ft)', { station: '9414290' }), UsageError);
  });
});

describe('csv: CO-OPS API CSV', () => {
  it('reads feet, flags and an inferred row (8443970, I, L)', () => {
    const { layout, rows } = decodeFixture('8443970_2018-09_excerpt.csv', { units: 'ft' });
    assert.equal(layout, 'noaa-api-csv');
    assert.deepEqual(rows[0], { station: '8443970', name: 'BOSTON', lat: 42.3539, lon: -71.0503, t: utc(2018, 9, 9, 0, 0), v: 0.353568, s: 0.02286, f: '0,0', q: null });
    assert.deepEqual(rows[2], { station: '8443970', name: 'BOSTON', lat: 42.3539, lon: -71.0503, t: utc(2018, 9, 12, 22, 0), v: -0.8772144, s: 0, f: '1,0', q: null });
  });

  it('reads metres when told so (8761724)', () => {
    const { rows } = decodeFixture('8761724_2016-11_excerpt.csv', { units: 'm' });
    assert.deepEqual(rows.map((r) => [r.t, r.v, r.s, r.f]), [
      [utc(2016, 11, 2, 0, 0), 0.234, 0.012, '0,0'],
      [utc(2016, 11, 2, 1, 0), 0.273, 0.021, '0,0'],
    ]);
  });

  it('refuses to guess the units its header does not give: metres and feet differ 3.3 times', () => {
    const file = path.join(FIXTURES, '8443970_2018-09_excerpt.csv');
    assert.throws(
      () => decodeFixture('8443970_2018-09_excerpt.csv'),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          `${file}: its header (noaa-api-csv layout: "Date Time, Water Level, Sigma, I, L") does not say the units of its water levels, ` +
            'and NOAA answers in the units the request asked for (units=metric: metres, units=english: feet). ' +
            "Say which: --units m or --units ft (units: in the job's file source)",
    );
    assert.throws(() => decodeFixture('9454460_2005-09_excerpt.csv'), (e: unknown) => e instanceof UsageError && /noaa-api-fields layout: "t,v,s"\) does not say the units/.test(e.message));
    // tideflow's own layout is the record schema's, in metres.
    assert.equal(createCsvDecoder(TIDE_CSV_HEADER).decode('8454000,x,41.8,-71.4,0,1.5,,,').v, 1.5);
  });

  it('says NOAA\'s message when the file is NOAA\'s error answer', () => {
    assert.throws(
      () => createCsvDecoder('Error: No data was found. This product may not be offered at this station at the requested time.', { fileName: 'answer.csv', units: 'm' }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === "answer.csv is NOAA's error answer, not observations: NOAA CO-OPS API error: No data was found. This product may not be offered at this station at the requested time.",
    );
  });

  it('keeps Quality, empty Sigma and the row without a value (8729108, Hurricane Michael)', () => {
    const { rows } = decodeFixture('8729108_2018-10_excerpt.csv', { units: 'ft' });
    const base = { station: '8729108', name: 'Panama City', lat: 30.1497, lon: -85.6644 };
    assert.deepEqual(rows[0], { ...base, t: utc(2018, 10, 9, 0, 0), v: 0.7379208, s: 0.0109728, f: '1,0,0,0', q: 'p' });
    assert.deepEqual(rows[2], { ...base, t: utc(2018, 10, 9, 16, 0), v: 0.8698992, s: null, f: '1,0,0,0', q: 'p' });
    assert.deepEqual(rows[3], { ...base, t: utc(2018, 10, 10, 18, 12), v: 1.9821144, s: 0.1530096, f: '1,0,0,0', q: 'p' });
    assert.deepEqual(rows[4], { ...base, t: utc(2018, 10, 10, 18, 18), v: null, s: null, f: '1,1,1,1', q: 'p' });
    assert.equal(rows.length, 6);
  });

  it('rejects bad rows with exact reasons', () => {
    const decoder = createCsvDecoder('Date Time, Water Level, Sigma, I, L ', { station: '8761724', units: 'm' });
    const reason = (line: string) => {
      try {
        decoder.decode(line);
        return 'decoded';
      } catch (error) {
        assert.ok(error instanceof DecodeError);
        return error.message;
      }
    };
    assert.equal(reason('2016-11-02 00:00,abc,0.012,0,0'), 'column "Water Level" is not a number: "abc"');
    assert.equal(reason('2016-13-02 00:00,0.1,0.012,0,0'), 'column "Date Time" is not a date and time: "2016-13-02 00:00"');
    assert.equal(reason('2016-11-02 00:00,0.1'), 'expected 5 fields, got 2');
    assert.equal(reason('2016-11-02 00:00,"0.1,0.012,0,0'), 'unterminated quoted field');
  });
});

describe('csv: other layouts', () => {
  it('reads the API JSON fields saved as CSV (9454460, t,v,s)', () => {
    const { layout, rows } = decodeFixture('9454460_2005-09_excerpt.csv', { units: 'm' });
    assert.equal(layout, 'noaa-api-fields');
    assert.deepEqual(rows[0], { station: '9454460', name: 'Columbia Glacier', lat: 61.0233, lon: -147.085, t: Date.UTC(2005, 8, 1, 1), v: 1.555, s: 0.008, f: null, q: null });
  });

  it('reads the TADC layout once it is given a station', () => {
    assert.throws(() => decodeFixture('UNKNOWN-STATION_2016-10_excerpt.csv'), (e: unknown) => e instanceof UsageError && /names no station/.test(e.message));
    assert.throws(() => decodeFixture('UNKNOWN-STATION_2016-10_excerpt.csv', { station: '8665530' }), (e: unknown) => e instanceof UsageError && /not in data\/bundled\/stations.json/.test(e.message));
    const { layout, rows } = decodeFixture('UNKNOWN-STATION_2016-10_excerpt.csv', { station: 'TADC1', stationInfo: { name: 'TADC example', lat: 32.78, lon: -79.92 } });
    assert.equal(layout, 'noaa-tadc');
    assert.deepEqual(rows[1], { station: 'TADC1', name: 'TADC example', lat: 32.78, lon: -79.92, t: Date.UTC(2016, 9, 1, 0, 6), v: 7.414, s: null, f: null, q: null });
  });

  it('takes name and position from the option, then the stations file, then the bundled table', () => {
    // CO-OPS' station metadata layout, for a station the bundled table does not know (Sewells Point).
    const stationsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-csv-')), 'stations.csv');
    fs.writeFileSync(stationsFile, 'id,name,lat,lon\n8638610,Sewells Point,36.9467,-76.3300\n9454050,Cordova,60.5583,-145.753\n');
    const stations = loadStationTable(stationsFile);
    const header = 'Date Time, Water Level, Sigma, I, L ';
    const line = '2005-09-01 01:00,1.555,0.008,0,0';
    const decode = (options: Parameters<typeof createCsvDecoder>[1]) => {
      const { station, name, lat, lon } = createCsvDecoder(header, { units: 'm', ...options }).decode(line);
      return { station, name, lat, lon };
    };
    // Not bundled: refused without a table, read with one.
    assert.throws(
      () => decode({ station: '8638610' }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          'station 8638610 is not in data/bundled/stations.json, so its name and position are unknown: give them with --station "8638610,NAME,LAT,LON" ' +
            "(station: in the job's file source), or list the station in a stations file (--stations stations.csv, stations: in the file source) " +
            "with the columns id,name,lat,lon of CO-OPS' station metadata",
    );
    assert.deepEqual(decode({ station: '8638610', stations }), { station: '8638610', name: 'Sewells Point', lat: 36.9467, lon: -76.33 });
    // The option wins over the table, which wins over the bundled table.
    assert.deepEqual(decode({ station: '8638610', stations, stationInfo: { name: 'Norfolk', lat: 36.95, lon: -76.33 } }), { station: '8638610', name: 'Norfolk', lat: 36.95, lon: -76.33 });
    const renamed = new Map([['9414290', { name: 'Golden Gate', lat: 37.8, lon: -122.47 }]]);
    assert.deepEqual(decode({ station: '9414290', stations: renamed }), { station: '9414290', name: 'Golden Gate', lat: 37.8, lon: -122.47 });
    assert.deepEqual(decode({ station: '9414290', stations }), { station: '9414290', name: 'SAN FRANCISCO (Golden Gate)', lat: 37.8063, lon: -122.4659 });
    // A file with a station column completes its rows from the table too.
    assert.deepEqual(createCsvDecoder('station,t,v', { stations }).decode('9454050,0,1'), { station: '9454050', t: 0, v: 1, name: 'Cordova', lat: 60.5583, lon: -145.753 });
  });

  it('round-trips the generic layout written by encodeCsvLine (names with commas, nulls)', () => {
    const row = { station: '8454000', name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007, t: Date.UTC(2024, 0, 1), v: 1.25, s: null, f: '0,0,0,0', q: 'p' };
    const decoder = createCsvDecoder(TIDE_CSV_HEADER);
    assert.equal(decoder.layout, 'generic');
    assert.deepEqual(decoder.decode(encodeCsvLine(row)), row);
  });

  it('completes name and position from the station table when a generic file has only a station column', () => {
    const decoder = createCsvDecoder('station,t,v');
    assert.deepEqual(decoder.decode('9414290,1546300800000,0.5'), { station: '9414290', t: 1546300800000, v: 0.5, name: 'SAN FRANCISCO (Golden Gate)', lat: 37.8063, lon: -122.4659 });
  });
});

describe('csv: helpers', () => {
  it('splits quoted fields', () => {
    assert.deepEqual(splitCsvLine('a,"b,c","d ""e""",,"-"'), ['a', 'b,c', 'd "e"', '', '-']);
    assert.deepEqual(splitCsvLine('x,y\r'), ['x', 'y']);
    assert.equal(hasUnclosedQuote('a,"b'), true);
    assert.equal(hasUnclosedQuote('a,"b""c"'), false);
  });

  it('converts feet exactly to 7 decimals', () => {
    assert.equal(feetToMetres(1.42), 0.432816);
    assert.equal(feetToMetres(6.647), 2.0260056);
    assert.equal(feetToMetres(-0.001), -0.0003048);
  });

  it('takes station ids from NOAA file names', () => {
    assert.equal(stationIdFromFileName('/x/9414290_2019-01_water_level_6min.csv'), '9414290');
    assert.equal(stationIdFromFileName('CO-OPS__8761724__hr (35).csv'), '8761724');
    assert.equal(stationIdFromFileName('UNKNOWN-STATION_2016.csv'), undefined);
    assert.equal(stationIdFromFileName('12345678_x.csv'), undefined);
  });
});
