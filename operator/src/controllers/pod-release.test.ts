import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releasePodPatch } from './pod-release.js';
import { readyCondition } from './gpunode-controller.js';

const gate = { name: 'avec.dev/claim-bound' };

test('releasePodPatch: narrows affinity when the pod has none, then lifts the gate (guarded by test)', () => {
  const ops = releasePodPatch({ schedulingGates: [{ name: 'other' }, gate] }, 'edge-a');
  assert.deepEqual(ops?.map((o) => [o.op, o.path]), [
    ['add', '/spec/affinity'],
    ['test', '/spec/schedulingGates/1/name'],
    ['remove', '/spec/schedulingGates/1'],
  ]);
  const aff = (ops![0] as { value: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Array<{ matchExpressions: Array<{ key: string; operator: string; values?: string[] }> }> } } } }).value;
  const terms = aff.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
  // site label = edge-a, or no site label and zone = edge-a
  assert.deepEqual(terms.map((t) => t.matchExpressions.map((e) => `${e.key} ${e.operator} ${e.values?.join(',') ?? ''}`.trim())), [
    ['avec.dev/site In edge-a'],
    ['avec.dev/site DoesNotExist', 'topology.kubernetes.io/zone In edge-a'],
  ]);
});

test('releasePodPatch: pods with their own placement keep it; pod anti-affinity kept', () => {
  const own = releasePodPatch({ schedulingGates: [gate], nodeSelector: { 'topology.kubernetes.io/zone': 'z' } }, 'edge-a');
  assert.deepEqual(own?.map((o) => o.op), ['test', 'remove']);
  const anti = releasePodPatch({ schedulingGates: [gate], affinity: { podAntiAffinity: {} } }, 'edge-a');
  assert.deepEqual(anti?.[0], { op: 'add', path: '/spec/affinity/nodeAffinity', value: (releasePodPatch({ schedulingGates: [gate] }, 'edge-a')![0] as { value: { nodeAffinity: unknown } }).value.nodeAffinity });
  assert.deepEqual(releasePodPatch({ schedulingGates: [gate] }, undefined)?.map((o) => o.op), ['test', 'remove']);
  assert.equal(releasePodPatch({ schedulingGates: [] }, 's'), undefined);
});

test('readyCondition: fresh, stale, missing heartbeat; recheck at expiry', () => {
  const t = Date.parse('2026-01-01T00:00:00Z');
  assert.deepEqual(readyCondition({ heartbeatTime: '2026-01-01T00:00:00Z', nowMs: t + 10_000, timeoutMs: 30_000 }).recheckInMs, 20_001);
  assert.equal(readyCondition({ heartbeatTime: '2026-01-01T00:00:00Z', nowMs: t + 30_001, timeoutMs: 30_000 }).reason, 'HeartbeatStale');
  assert.equal(readyCondition({ nowMs: t, timeoutMs: 30_000 }).reason, 'NoHeartbeat');
});
