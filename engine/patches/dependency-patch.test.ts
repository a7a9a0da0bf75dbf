import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyDependencyPatch, type DependencyPatch } from './dependency-patch';

const kafkajsVersion = (require('kafkajs/package.json') as { version: string }).version;

function patch(overrides: Partial<DependencyPatch> = {}): DependencyPatch & { installs: number } {
  const result = {
    installs: 0,
    dependency: 'kafkajs',
    version: kafkajsVersion,
    replaces: 'widget',
    otherwise: 'kafkajs makes widgets itself',
    offSwitch: { variable: 'TIDEFLOW_TEST_PATCH', value: 'off' },
    install() {
      result.installs++;
      return { active: true, reason: 'installed' };
    },
    ...overrides,
  };
  return result;
}

test('a patch goes in for its exact dependency version, and not when switched off or for another version', () => {
  const installed = patch();
  assert.deepEqual(applyDependencyPatch(installed), { active: true, reason: 'installed' });
  assert.equal(installed.installs, 1);

  const otherVersion = patch({ version: '0.0.1' });
  assert.deepEqual(applyDependencyPatch(otherVersion), {
    active: false,
    reason: `kafkajs ${kafkajsVersion} is not 0.0.1, whose widget tideflow's stands in for: kafkajs makes widgets itself`,
  });
  assert.equal(otherVersion.installs, 0);

  const switchedOff = patch();
  process.env.TIDEFLOW_TEST_PATCH = 'off';
  try {
    assert.deepEqual(applyDependencyPatch(switchedOff), { active: false, reason: 'TIDEFLOW_TEST_PATCH=off: kafkajs makes widgets itself' });
  } finally {
    delete process.env.TIDEFLOW_TEST_PATCH;
  }
  assert.equal(switchedOff.installs, 0);
  // Any other value of the variable leaves the patch on.
  process.env.TIDEFLOW_TEST_PATCH = 'on';
  try {
    assert.equal(applyDependencyPatch(patch()).active, true);
  } finally {
    delete process.env.TIDEFLOW_TEST_PATCH;
  }
});

test('what install finds is passed on (it may decline)', () => {
  const declined = patch({ install: () => ({ active: false, reason: 'kafkajs had already loaded its widget' }) });
  assert.deepEqual(applyDependencyPatch(declined), { active: false, reason: 'kafkajs had already loaded its widget' });
});
