import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from './duration';
import { parseTimestamp } from './timestamp';
import { closestName } from './did-you-mean';

test('parseDuration reads single units', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('0s'), 0);
  assert.equal(parseDuration('1.5h'), 5_400_000);
});

test('parseDuration reads compound durations exactly (the mean lunar day)', () => {
  assert.equal(parseDuration('24h50m28.329s'), 89_428_329);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1m500ms'), 60_500);
});

test('parseDuration refuses bare numbers, spaces, signs and unknown units', () => {
  for (const text of ['30', '', '30 minutes', '30 m', '-5m', '+5m', '5x', 'm', '5m ', '1h-30m', '5mm']) {
    assert.equal(parseDuration(text), null, text);
  }
});

test('parseTimestamp takes ISO-8601 with a zone, or a bare date as UTC midnight', () => {
  assert.deepEqual(parseTimestamp('1970-01-01T00:00:00Z'), { ok: true, ms: 0 });
  assert.deepEqual(parseTimestamp('2024-01-01T00:00:00Z'), { ok: true, ms: Date.UTC(2024, 0, 1) });
  assert.deepEqual(parseTimestamp('2024-01-01T02:00:00.250+02:00'), { ok: true, ms: Date.UTC(2024, 0, 1, 0, 0, 0, 250) });
  assert.deepEqual(parseTimestamp('2024-01-01'), { ok: true, ms: Date.UTC(2024, 0, 1) });
});

test('parseTimestamp refuses local times and impossible dates', () => {
  assert.deepEqual(parseTimestamp('2024-01-01T00:00:00'), { ok: false, reason: 'no-timezone' });
  assert.deepEqual(parseTimestamp('2024-02-30T00:00:00Z'), { ok: false, reason: 'invalid' });
  assert.deepEqual(parseTimestamp('2024-01-01T24:00:00Z'), { ok: false, reason: 'invalid' });
  assert.deepEqual(parseTimestamp('yesterday'), { ok: false, reason: 'invalid' });
});

test('closestName guesses typos but not unrelated names', () => {
  assert.equal(closestName('sizee', ['size', 'anchor']), 'size');
  assert.equal(closestName('stpes', ['steps', 'sink']), 'steps');
  assert.equal(closestName('lunarday', ['tumbling', 'lunarDay']), 'lunarDay');
  assert.equal(closestName('tt', ['t', 'v']), 't');
  assert.equal(closestName('q', ['v']), undefined);
  assert.equal(closestName('median', ['min', 'max', 'avg']), undefined);
});
