import { test } from 'node:test';
import assert from 'node:assert/strict';
import { substituteEnv } from './env';

test('substituteEnv uses the variable, else the default', () => {
  assert.deepEqual(substituteEnv('${A:-x}', { A: 'set' }), { ok: true, value: 'set', changed: true });
  assert.deepEqual(substituteEnv('${A:-localhost:9092}', {}), { ok: true, value: 'localhost:9092', changed: true });
  assert.deepEqual(substituteEnv('http://${HOST:-localhost}:${PORT:-8081}/x', { PORT: '9' }), { ok: true, value: 'http://localhost:9/x', changed: true });
  // Empty counts as unset for :- (as in the shell), but a set-empty variable without default stays empty.
  assert.deepEqual(substituteEnv('${A:-d}', { A: '' }), { ok: true, value: 'd', changed: true });
  assert.deepEqual(substituteEnv('${A}', { A: '' }), { ok: true, value: '', changed: true });
  assert.deepEqual(substituteEnv('${A:-}', {}), { ok: true, value: '', changed: true });
});

test('substituteEnv leaves text without references alone and writes $$ as $', () => {
  assert.deepEqual(substituteEnv('plain $5 text', {}), { ok: true, value: 'plain $5 text', changed: false });
  assert.deepEqual(substituteEnv('$${A}', { A: 'x' }), { ok: true, value: '${A}', changed: true });
});

test('substituteEnv reports every unset variable with its offset', () => {
  assert.deepEqual(substituteEnv('${A}/${B:-b}/${C}', {}), {
    ok: false,
    problems: [
      { index: 0, message: 'environment variable A is not set; set it or write ${A:-default}' },
      { index: 13, message: 'environment variable C is not set; set it or write ${C:-default}' },
    ],
  });
});

test('substituteEnv reports malformed references', () => {
  const unterminated = substituteEnv('x ${A', {});
  assert.equal(unterminated.ok, false);
  if (!unterminated.ok) assert.match(unterminated.problems[0].message, /unterminated/);
  const badName = substituteEnv('${A:b}', {});
  assert.equal(badName.ok, false);
  if (!badName.ok) assert.match(badName.problems[0].message, /is not an environment reference/);
});
