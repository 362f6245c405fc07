import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocationSummary, overcommittedClaims, sameSummary } from './allocation.js';
import { AllocationLedger, entryOfClaim, type LedgerEntry } from './allocation-ledger.js';
import { gpuNodeSchema } from '@avec/api';

const GiB = 2 ** 30;
const node = gpuNodeSchema.parse({
  metadata: { name: 'g', resourceVersion: '7' },
  spec: { nodeName: 'g', endpoint: 'g:1', devices: [{ uuid: 'D', model: 'm', memoryBytes: 10 * GiB, computeCapability: '9.0' }] },
});
const e = (name: string, mem: number, cpct = 10, boundTime?: string): LedgerEntry =>
  ({ claimUID: `u-${name}`, claim: `n/${name}`, node: 'g', memoryBytes: mem, computePercent: cpct, deviceUUID: 'D', ...(boundTime ? { boundTime } : {}) });

test('allocationSummary: sorted by claim, totals in bytes and human units; sameSummary ignores order of nothing else', () => {
  const s = allocationSummary(node, [e('b', 4 * GiB), e('a', 6 * GiB)]);
  assert.deepEqual(s.allocations.map((a) => a.claim), ['n/a', 'n/b']);
  assert.equal(s.allocatedMemoryBytes, 10 * GiB);
  assert.deepEqual(s.memory, { capacity: '10Gi', allocated: '10Gi', free: '0' });
  assert.equal(sameSummary(s, allocationSummary(node, [e('a', 6 * GiB), e('b', 4 * GiB)])), true);
  assert.equal(sameSummary(s, allocationSummary(node, [e('a', 6 * GiB)])), false);
  assert.equal(sameSummary(undefined, allocationSummary(node, [])), false, 'a node never summarised gets its first summary');
});

test('overcommittedClaims: oldest binds keep their place, an exact fit is fine, compute counts, unwritten binds go last', () => {
  assert.deepEqual([...overcommittedClaims(node, [e('a', 6 * GiB, 10, 't1'), e('b', 4 * GiB, 10, 't2')])], []);
  assert.deepEqual([...overcommittedClaims(node, [e('young', 4 * GiB + 1, 10, 't2'), e('old', 6 * GiB, 10, 't1'), e('small', GiB, 10, 't3')])], ['n/young']);
  assert.deepEqual([...overcommittedClaims(node, [e('a', GiB, 60, 't1'), e('b', GiB, 50, 't2')])], ['n/b']);
  assert.deepEqual([...overcommittedClaims(node, [e('inflight', 6 * GiB), e('b', 6 * GiB, 10, 't9')])], ['n/inflight']);
});

test('ledger: derived from claim statuses; assumed binds count at once and yield to the written status; nodes told of changes', () => {
  const changes: string[] = [];
  const l = new AllocationLedger((n, freed) => changes.push(`${n}:${freed ? 'freed' : 'taken'}`));
  const bound = (node: string, mem: number) => ({ metadata: { uid: 'u1' }, status: { phase: 'Bound', allocation: { node, deviceUUID: 'D', memoryBytes: mem, computePercent: 5, endpoint: 'x', boundTime: 't' } } });
  assert.equal(entryOfClaim('n/c', { status: { phase: 'Lost' } }), undefined);
  assert.equal(entryOfClaim('n/c', { status: { phase: 'Bound', allocation: { node: 'g' } } }), undefined, 'a malformed allocation holds nothing');
  l.assume('n/c', e('c', GiB, 5));
  assert.deepEqual(l.onNode('g').map((x) => x.claim), ['n/c']);
  l.observe('n/c', bound('g', GiB));
  l.forget('n/c');
  assert.equal(l.get('n/c')?.boundTime, 't', 'the written status replaces the assumption');
  l.observe('n/c', bound('h', GiB));
  assert.deepEqual([l.onNode('g').length, l.onNode('h').length], [0, 1]);
  l.observe('n/c', undefined);
  assert.equal(l.get('n/c'), undefined);
  assert.deepEqual(l.nodes(), []);
  assert.deepEqual(changes, ['g:taken', 'g:freed', 'h:taken', 'h:freed']);
});
