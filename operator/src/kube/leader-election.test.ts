import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, observe, mustStepDown, released, type Observation } from './leader-election.js';

test('no lease: create it as holder', () => {
  const a = decide('op-a', observe(undefined, undefined, 0), 0);
  assert.equal(a.kind, 'create');
  assert.equal(a.kind === 'create' && a.record.holderIdentity, 'op-a');
  assert.equal(a.kind === 'create' && a.record.leaseDurationSeconds, 15);
});

test('holder renews, keeping acquireTime and transitions', () => {
  const rec = { holderIdentity: 'op-a', leaseDurationSeconds: 15, acquireTime: 't0', renewTime: 't0', leaseTransitions: 3 };
  const a = decide('op-a', observe(undefined, rec, 1000), 5000);
  assert.deepEqual(a.kind === 'update' && [a.takeover, a.record.acquireTime, a.record.leaseTransitions], [false, 't0', 3]);
});

test('follower waits until the lease has not changed for 15 s, then takes over', () => {
  const rec = { holderIdentity: 'op-a', leaseDurationSeconds: 15, renewTime: 'r1', leaseTransitions: 0 };
  let obs: Observation = observe(undefined, rec, 0);
  assert.deepEqual(decide('op-b', obs, 14_999), { kind: 'wait', holder: 'op-a', expiresInMs: 1 });
  // The holder renews at 10 s: the observation restarts, so b keeps waiting past 15 s.
  obs = observe(obs, { ...rec, renewTime: 'r2' }, 10_000);
  assert.equal(decide('op-b', obs, 20_000).kind, 'wait');
  // Same record again (no renewal) does not reset the observation time.
  obs = observe(obs, { ...rec, renewTime: 'r2' }, 20_000);
  assert.equal(obs.observedAtMs, 10_000);
  const a = decide('op-b', obs, 25_000);
  assert.equal(a.kind, 'update');
  assert.deepEqual(a.kind === 'update' && [a.takeover, a.record.holderIdentity, a.record.leaseTransitions], [true, 'op-b', 1]);
});

test('a released lease (empty holder) is taken at once', () => {
  const rel = released({ holderIdentity: 'op-a', leaseTransitions: 2 }, 0);
  assert.equal(rel.holderIdentity, '');
  const a = decide('op-b', observe(undefined, rel, 0), 1);
  assert.equal(a.kind === 'update' && a.takeover, true);
});

test('leader steps down when it could not renew within the deadline', () => {
  assert.equal(mustStepDown(0, 10_000), false);
  assert.equal(mustStepDown(0, 10_001), true);
});
