// planBind is pure: every branch of the bind decision, as a table of observed state -> action.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimSchema, gpuNodeSchema, type GPUNode } from '@avec/api';
import { claimRequestFrom, nodeViewFrom } from '../placement/model.js';
import { planBind, type BindAction, type BindObserved, type BoundRecord } from './claim-plan.js';

const GiB = 2 ** 30;

function node(name: string, site = 'edge-a'): GPUNode {
  return gpuNodeSchema.parse({
    metadata: { name, uid: `uid-${name}` },
    spec: { nodeName: name, site, endpoint: `${name}:7400`, devices: [{ uuid: `GPU-${name}`, model: 'H100', memoryBytes: 80 * GiB, computeCapability: '9.0' }], links: [{ site, rttMs: 1 }] },
    status: { allocations: [] },
  });
}

interface ClaimOpts {
  phase?: 'Pending' | 'Bound' | 'Lost';
  boundNode?: string;
  memGiB?: number;
}
function claim(o: ClaimOpts = {}) {
  return claimSchema.parse({
    metadata: { name: 'job', namespace: 'ns', uid: 'c-1' },
    spec: { memory: `${o.memGiB ?? 8}Gi`, computePercent: 50, placement: { site: 'edge-a' } },
    status: o.phase ? { phase: o.phase, conditions: [], ...(o.boundNode ? { allocation: { node: o.boundNode, deviceUUID: `GPU-${o.boundNode}`, endpoint: 'x', memoryBytes: 8 * GiB, computePercent: 50, boundTime: '2026-01-01T00:00:00Z' } } : {}) } : undefined,
  });
}

/** The claim's status allocation as the controller hands it over: node (if cached), readiness. */
function bound(c: ReturnType<typeof claim>, o: { node?: GPUNode | null; ready?: boolean; overcommitted?: boolean } = {}): BoundRecord {
  const a = c.status!.allocation!;
  return { node: o.node === null ? undefined : (o.node ?? node(a.node)), ready: o.ready ?? true, allocation: a, overcommitted: o.overcommitted };
}

function observe(c: ReturnType<typeof claim>, o: { bound?: BoundRecord; nodes?: GPUNode[] } = {}): BindObserved {
  return { claim: c, request: claimRequestFrom(c), bound: o.bound, views: () => (o.nodes ?? []).map((n) => nodeViewFrom(n, true)) };
}

const boundClaim = claim({ phase: 'Bound', boundNode: 'g1' });
const cases: Array<{ name: string; observed: BindObserved; want: Partial<BindAction> & { kind: BindAction['kind'] }; check?: (a: BindAction) => void }> = [
  {
    name: 'not bound, a GPU fits: bind it', observed: observe(claim(), { nodes: [node('g1')] }), want: { kind: 'bind' },
    check: (a) => assert.ok(a.kind === 'bind' && a.allocation.node === 'g1' && a.allocation.deviceUUID === 'GPU-g1' && a.allocation.memoryBytes === 8 * GiB, JSON.stringify(a)),
  },
  {
    name: 'not bound, no GPU has the memory: unplaced with a reason', observed: observe(claim({ memGiB: 200 }), { nodes: [node('g1')] }), want: { kind: 'unplaced' },
    check: (a) => assert.ok(a.kind === 'unplaced' && a.reason === 'InsufficientMemory' && a.message.length > 0, JSON.stringify(a)),
  },
  { name: 'no GPU nodes at all: unplaced', observed: observe(claim()), want: { kind: 'unplaced' } },
  {
    name: 'bound on a ready node: finish with the recorded device, keeping boundTime, endpoint from the node', observed: observe(boundClaim, { bound: bound(boundClaim) }), want: { kind: 'finish' },
    check: (a) => assert.ok(a.kind === 'finish' && a.allocation.node === 'g1' && a.allocation.endpoint === 'g1:7400' && a.allocation.boundTime === '2026-01-01T00:00:00Z'),
  },
  { name: 'bound on a node that stopped heart-beating: lost (NodeLost)', observed: observe(boundClaim, { bound: bound(boundClaim, { ready: false }) }), want: { kind: 'lost', reason: 'NodeLost', node: 'g1' } },
  { name: 'bound on a GPUNode that is gone: lost (NodeLost)', observed: observe(boundClaim, { bound: bound(boundClaim, { node: null, ready: false }) }), want: { kind: 'lost', reason: 'NodeLost' } },
  { name: 'bound device no longer reported: lost (DeviceGone)', observed: observe(boundClaim, { bound: bound(boundClaim, { node: node('g2') }) }), want: { kind: 'lost', reason: 'DeviceGone' } },
  { name: 'bound on an overcommitted device, among the youngest: lost (Overcommitted)', observed: observe(boundClaim, { bound: bound(boundClaim, { overcommitted: true }) }), want: { kind: 'lost', reason: 'Overcommitted' } },
  {
    name: 'Lost (its allocation gone from the status): placed again', observed: observe(claim({ phase: 'Lost' }), { nodes: [node('g2')] }), want: { kind: 'bind' },
    check: (a) => assert.ok(a.kind === 'bind' && a.allocation.node === 'g2'),
  },
];

for (const c of cases) {
  test(`planBind: ${c.name}`, () => {
    const a = planBind(c.observed);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual((a as unknown as Record<string, unknown>)[k], v, `${k} of ${JSON.stringify(a)}`);
    c.check?.(a);
  });
}

test('planBind: a newcomer places only into what the claims that lost their GPU leave; they place regardless', () => {
  const small = gpuNodeSchema.parse({ ...node('g1'), spec: { ...node('g1').spec, devices: [{ uuid: 'GPU-g1', model: 'L4', memoryBytes: 16 * GiB, computeCapability: '8.9' }] } });
  const lostClaim = claim({ phase: 'Lost', memGiB: 12 });
  const lostReq = { ...claimRequestFrom(lostClaim), key: 'ns/other', uid: 'c-2' };
  const newcomer = claim({ phase: 'Pending', memGiB: 12 });
  const held = planBind({ ...observe(newcomer, { nodes: [small] }), lostClaims: () => [lostReq] });
  assert.equal(held.kind, 'unplaced');
  assert.equal(held.kind === 'unplaced' && held.reason, 'CapacityHeldForLostClaims');
  assert.match(held.kind === 'unplaced' ? held.message : '', /held for 1 claim\(s\) that lost their GPU/);
  // Room for both: the newcomer is placed.
  const big = planBind({ ...observe(claim({ memGiB: 12 }), { nodes: [node('g1')] }), lostClaims: () => [lostReq] });
  assert.equal(big.kind, 'bind');
  // A Lost claim itself does not wait for the others.
  const self = planBind({ ...observe(lostClaim, { nodes: [small] }), lostClaims: () => [lostReq] });
  assert.equal(self.kind, 'bind');
  // A newcomer that would not fit anyway gets the real reason.
  const tooBig = planBind({ ...observe(claim({ memGiB: 40 }), { nodes: [small] }), lostClaims: () => [lostReq] });
  assert.equal(tooBig.kind === 'unplaced' && tooBig.reason, 'InsufficientMemory');
});
