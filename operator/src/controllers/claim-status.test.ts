import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderClaimStatus, claimEvents, sameStatus } from './claim-status.js';
import { findCondition } from './conditions.js';

const alloc = { node: 'gpu-a', site: 'a', deviceUUID: 'GPU-1', endpoint: '10.0.0.1:7100', memoryBytes: 1024, computePercent: 50, latencyMs: 2 };

test('unplaced -> Pending with reason in Scheduled; Warning event once', () => {
  const s1 = renderClaimStatus(undefined, { kind: 'unplaced', reason: 'InsufficientMemory', message: 'no GPU has 8Gi free' }, 1, 't1');
  assert.equal(s1.phase, 'Pending');
  assert.equal(s1.observedGeneration, 1);
  assert.deepEqual(findCondition(s1.conditions, 'Scheduled'), { type: 'Scheduled', status: 'False', reason: 'InsufficientMemory', message: 'no GPU has 8Gi free', lastTransitionTime: 't1', observedGeneration: 1 });
  assert.deepEqual(claimEvents(undefined, s1), [{ type: 'Warning', reason: 'InsufficientMemory', message: 'no GPU has 8Gi free' }]);
  const s2 = renderClaimStatus(s1, { kind: 'unplaced', reason: 'InsufficientMemory', message: 'no GPU has 8Gi free' }, 1, 't2');
  assert.equal(sameStatus(s1, s2), true, 'no write when nothing changed');
  assert.deepEqual(claimEvents(s1, s2), []);
});

test('bound: conditions True, transition times kept; a Bound event only after a wait', () => {
  // The success path is silent: a claim bound at once gets no Event.
  const direct = renderClaimStatus(undefined, { kind: 'bound', allocation: alloc, secretName: 'avec-claim-c' }, 1, 't1');
  assert.deepEqual(claimEvents(undefined, direct), []);
  const p = renderClaimStatus(undefined, { kind: 'unplaced', reason: 'NoReadyNode', message: 'm' }, 2, 't1');
  const b = renderClaimStatus(p, { kind: 'bound', allocation: alloc, secretName: 'avec-claim-c' }, 2, 't2');
  assert.equal(b.phase, 'Bound');
  assert.equal(b.secretName, 'avec-claim-c');
  assert.equal(b.allocation?.boundTime, 't2');
  assert.equal(findCondition(b.conditions, 'Ready')?.status, 'True');
  assert.equal(findCondition(b.conditions, 'Ready')?.lastTransitionTime, 't2');
  assert.deepEqual(claimEvents(p, b).map((e) => e.reason), ['Bound']);
  const again = renderClaimStatus(b, { kind: 'bound', allocation: alloc, secretName: 'avec-claim-c' }, 2, 't3');
  assert.equal(sameStatus(b, again), true);
  assert.equal(again.allocation?.boundTime, 't2');
});

test('lost keeps phase Lost until bound again, then Bound event names the new node', () => {
  const b = renderClaimStatus(undefined, { kind: 'bound', allocation: alloc, secretName: 's' }, 1, 't1');
  const l = renderClaimStatus(b, { kind: 'lost', reason: 'NodeLost', message: 'gpu-a stopped heart-beating' }, 1, 't2');
  assert.equal(l.phase, 'Lost');
  assert.equal(l.allocation, undefined);
  assert.deepEqual(claimEvents(b, l).map((e) => [e.type, e.reason]), [['Warning', 'NodeLost']]);
  const u = renderClaimStatus(l, { kind: 'unplaced', reason: 'InsufficientMemory', message: 'x' }, 1, 't3');
  assert.equal(u.phase, 'Lost');
  const b2 = renderClaimStatus(u, { kind: 'bound', allocation: { ...alloc, node: 'gpu-b' }, secretName: 's' }, 1, 't5');
  assert.equal(b2.phase, 'Bound');
  assert.deepEqual(claimEvents(u, b2), [{ type: 'Normal', reason: 'Bound', message: 'bound to gpu-b (10.0.0.1:7100)' }]);
});
