import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { DecodeError } from '../core/errors';
import { decodeJsonLine, encodeJsonLine } from './jsonl';
import { parseIsoTimestamp, parseMonthDayYearTime, parseSlashedDateAndClock } from './timestamps';

function reason(line: string): string {
  try {
    decodeJsonLine(line);
    return 'decoded';
  } catch (error) {
    assert.ok(error instanceof DecodeError);
    return error.message;
  }
}

describe('jsonl', () => {
  it('reads t as epoch ms or ISO-8601 and always yields epoch ms', () => {
    assert.deepEqual(decodeJsonLine('{"station":"8454000","t":1600921080000,"v":1.2}'), { station: '8454000', t: 1600921080000, v: 1.2 });
    assert.deepEqual(decodeJsonLine('{"t":"2020-09-24T04:18:00.000Z"}'), { t: 1600921080000 });
    assert.deepEqual(decodeJsonLine('{"t":"2020-09-24T06:18:00+02:00"}'), { t: 1600921080000 });
    // No zone: UTC (NOAA times are GMT), not the machine's local zone.
    assert.deepEqual(decodeJsonLine('{"t":"2020-09-24 04:18"}'), { t: 1600921080000 });
    assert.deepEqual(decodeJsonLine('{"t":"1600921080000"}'), { t: 1600921080000 });
  });

  it("says NOAA's message for NOAA's error answer among records, and what an answer among records is", () => {
    assert.equal(
      reason('{"error": {"message":" No data was found. This product may not be offered at this station at the requested time."}}'),
      'NOAA CO-OPS API error: No data was found. This product may not be offered at this station at the requested time.',
    );
    assert.equal(
      reason('{"metadata":{"id":"8454000"},"data":[{"t":"2019-01-01 00:00","v":"0.850"}]}'),
      "an answer of NOAA's API (1 observations) among records: a file that holds only answers is read as such (format: noaa-json)",
    );
  });

  it('leaves a missing t to the validator and keeps null readings', () => {
    assert.deepEqual(decodeJsonLine('{"station":"x","v":null}'), { station: 'x', v: null });
  });

  it('rejects bad lines with exact reasons', () => {
    assert.match(reason('{"t": 1,'), /^invalid JSON: /);
    assert.equal(reason('[1,2]'), 'expected a JSON object, got an array');
    assert.equal(reason('null'), 'expected a JSON object, got null');
    assert.equal(reason('42'), 'expected a JSON object, got number');
    assert.equal(reason('{"t":"yesterday"}'), 'field "t" is not a timestamp (epoch ms or ISO-8601): "yesterday"');
    assert.equal(reason('{"t":"2019-02-30T00:00:00Z"}'), 'field "t" is not a timestamp (epoch ms or ISO-8601): "2019-02-30T00:00:00Z"');
    assert.equal(reason('{"t":true}'), 'field "t" is not a timestamp (epoch ms or ISO-8601): true');
  });

  it('writes t as ISO-8601 and reads it back', () => {
    const row = { station: '8454000', t: 1600921080000, v: null };
    const line = encodeJsonLine(row);
    assert.equal(line, '{"station":"8454000","t":"2020-09-24T04:18:00.000Z","v":null}');
    assert.deepEqual(decodeJsonLine(line), row);
  });
});

describe('timestamps', () => {
  it('parses every NOAA time layout as UTC', () => {
    assert.equal(parseIsoTimestamp('2005-09-01T01:00:00Z'), Date.UTC(2005, 8, 1, 1));
    assert.equal(parseIsoTimestamp('2018-10-10 18:18'), Date.UTC(2018, 9, 10, 18, 18));
    assert.equal(parseIsoTimestamp('2020-01-01T00:00:00.5Z'), Date.UTC(2020, 0, 1) + 500);
    assert.equal(parseSlashedDateAndClock('2019/01/31', '23:54'), Date.UTC(2019, 0, 31, 23, 54));
    assert.equal(parseMonthDayYearTime('12/18/2016 1:24'), Date.UTC(2016, 11, 18, 1, 24));
  });

  it('rejects impossible dates instead of rolling them over', () => {
    assert.equal(parseIsoTimestamp('2019-02-29T00:00:00Z'), undefined);
    assert.equal(parseIsoTimestamp('2020-02-29T24:00'), undefined);
    assert.equal(parseSlashedDateAndClock('2019/13/01', '00:00'), undefined);
    assert.equal(parseMonthDayYearTime('10/1/2016'), undefined);
  });
});
