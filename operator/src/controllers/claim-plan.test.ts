// planBind is pure: every branch of the bind decision, as a table of observed state -> action.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FINALIZER, RESERVATION_ANNOTATION, claimSchema, gpuNodeSchema, type GPUAllocation, type GPUNode } from '@avec/api';
import { claimRequestFrom, nodeViewFrom } from '../placement/model.js';
import { planBind, readReservation, type AllocationRecord, type BindAction, type BindObserved } from './claim-plan.js';

const GiB = 2 ** 30;

function node(name: string, site = 'edge-a'): GPUNode {
  return gpuNodeSchema.parse({
    metadata: { name, uid: `uid-${name}` },
    spec: { nodeName: name, site, endpoint: `${name}:7400`, devices: [{ uuid: `GPU-${name}`, model: 'H100', memoryBytes: 80 * GiB, computeCapability: '9.0' }], links: [{ site, rttMs: 1 }] },
    status: { allocations: [] },
  });
}

interface ClaimOpts {
  finalizer?: boolean;
  reservation?: { node: string; device: string; id: string };
  phase?: 'Pending' | 'Bound' | 'Lost';
  boundNode?: string;
  memGiB?: number;
}
function claim(o: ClaimOpts = {}) {
  return claimSchema.parse({
    metadata: {
      name: 'job', namespace: 'ns', uid: 'c-1',
      finalizers: o.finalizer === false ? [] : [FINALIZER],
      annotations: o.reservation ? { [RESERVATION_ANNOTATION]: JSON.stringify(o.reservation) } : {},
    },
    spec: { memory: `${o.memGiB ?? 8}Gi`, computePercent: 50, placement: { site: 'edge-a' } },
    status: o.phase ? { phase: o.phase, conditions: [], ...(o.boundNode ? { allocation: { node: o.boundNode, deviceUUID: `GPU-${o.boundNode}`, endpoint: 'x', memoryBytes: 8 * GiB, computePercent: 50, boundTime: '2026-01-01T00:00:00Z' } } : {}) } : undefined,
  });
}

const alloc = (n: string, extra: Partial<GPUAllocation> = {}): GPUAllocation => ({ claimUID: 'c-1', claim: 'ns/job', memoryBytes: 8 * GiB, computePercent: 50, deviceUUID: `GPU-${n}`, ...extra });
const rec = (n: string, ready = true, extra: Partial<GPUAllocation> = {}): AllocationRecord => ({ node: node(n), alloc: alloc(n, extra), ready });

function observe(c: ReturnType<typeof claim>, records: AllocationRecord[] = [], o: { reservedNode?: { node: GPUNode; ready: boolean }; nodes?: GPUNode[] } = {}): BindObserved {
  return { claim: c, request: claimRequestFrom(c), records, reservedNode: o.reservedNode, views: () => (o.nodes ?? []).map((n) => nodeViewFrom(n, true)) };
}

const R = { node: 'g1', device: 'GPU-g1', id: 'r1' };
const cases: Array<{ name: string; observed: BindObserved; want: Partial<BindAction> & { kind: BindAction['kind'] }; check?: (a: BindAction) => void }> = [
  { name: 'nothing recorded, a GPU fits: reserve it', observed: observe(claim({ finalizer: false }), [], { nodes: [node('g1')] }), want: { kind: 'reserve', node: 'g1', deviceUUID: 'GPU-g1' } },
  {
    name: 'nothing recorded, no GPU has the memory: unplaced with a reason', observed: observe(claim({ memGiB: 200 }), [], { nodes: [node('g1')] }), want: { kind: 'unplaced' },
    check: (a) => assert.ok(a.kind === 'unplaced' && a.reason === 'InsufficientMemory' && a.message.length > 0, JSON.stringify(a)),
  },
  { name: 'no GPU nodes at all: unplaced', observed: observe(claim(), []), want: { kind: 'unplaced' } },
  {
    name: 'recorded on a ready node: finish with the recorded device, keeping boundTime', observed: observe(claim({ phase: 'Bound', boundNode: 'g1' }), [rec('g1')]), want: { kind: 'finish' },
    check: (a) => assert.ok(a.kind === 'finish' && a.allocation.node === 'g1' && a.allocation.endpoint === 'g1:7400' && a.allocation.boundTime === '2026-01-01T00:00:00Z'),
  },
  { name: 'recorded but the finalizer is missing: guard again', observed: observe(claim({ finalizer: false, reservation: R }), [rec('g1', true, { reservation: 'r1' })]), want: { kind: 'guard', reservation: R } },
  { name: 'recorded on a node that stopped heart-beating: lost (NodeLost)', observed: observe(claim({ phase: 'Bound', boundNode: 'g1' }), [rec('g1', false)]), want: { kind: 'lost', reason: 'NodeLost' } },
  { name: 'recorded device no longer reported: lost (DeviceGone)', observed: observe(claim(), [rec('g1', true, { deviceUUID: 'GPU-old' })]), want: { kind: 'lost', reason: 'DeviceGone' } },
  {
    name: 'recorded with another size than the spec asks: resize', observed: observe(claim({ memGiB: 16 }), [rec('g1')]), want: { kind: 'resize' },
    check: (a) => assert.ok(a.kind === 'resize' && a.allocation.memoryBytes === 16 * GiB),
  },
  {
    name: 'a record of a superseded reservation: release it', observed: observe(claim({ reservation: R }), [rec('g1', true, { reservation: 'r1' }), rec('g2', true, { reservation: 'old' })]), want: { kind: 'release', why: 'superseded' },
    check: (a) => assert.deepEqual(a.kind === 'release' && a.records.map((r) => r.node.metadata.name), ['g2']),
  },
  {
    name: 'two records without reservations: keep the one the status names', observed: observe(claim({ phase: 'Bound', boundNode: 'g2' }), [rec('g1'), rec('g2')]), want: { kind: 'release', why: 'duplicate' },
    check: (a) => assert.deepEqual(a.kind === 'release' && a.records.map((r) => r.node.metadata.name), ['g1']),
  },
  {
    name: 'reserved on a ready node, not recorded: commit the reservation', observed: observe(claim({ reservation: R }), [], { reservedNode: { node: node('g1'), ready: true } }), want: { kind: 'commit-reservation', reservation: R },
    check: (a) => assert.ok(a.kind === 'commit-reservation' && a.allocation.deviceUUID === 'GPU-g1' && a.allocation.memoryBytes === 8 * GiB),
  },
  { name: 'reserved on a node that is not ready (was Bound): drop, mark Lost', observed: observe(claim({ reservation: R, phase: 'Bound', boundNode: 'g1' }), [], { reservedNode: { node: node('g1'), ready: false } }), want: { kind: 'drop-reservation', markLost: true } },
  { name: 'reserved on a node that is gone (never Bound): drop, not Lost', observed: observe(claim({ reservation: R, phase: 'Pending' }), []), want: { kind: 'drop-reservation', markLost: false } },
];

for (const c of cases) {
  test(`planBind: ${c.name}`, () => {
    const a = planBind(c.observed);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual((a as unknown as Record<string, unknown>)[k], v, `${k} of ${JSON.stringify(a)}`);
    c.check?.(a);
  });
}

test('readReservation: valid JSON with node, device and id only', () => {
  assert.deepEqual(readReservation({ [RESERVATION_ANNOTATION]: JSON.stringify(R) }), R);
  assert.equal(readReservation({ [RESERVATION_ANNOTATION]: '{not json' }), undefined);
  assert.equal(readReservation({ [RESERVATION_ANNOTATION]: JSON.stringify({ node: 'g1' }) }), undefined);
  assert.equal(readReservation(undefined), undefined);
});

test('planBind: a newcomer places only into what the claims that lost their GPU leave; they place regardless', () => {
  const small = gpuNodeSchema.parse({ ...node('g1'), spec: { ...node('g1').spec, devices: [{ uuid: 'GPU-g1', model: 'L4', memoryBytes: 16 * GiB, computeCapability: '8.9' }] } });
  const lostClaim = claim({ phase: 'Lost', memGiB: 12 });
  const lostReq = { ...claimRequestFrom(lostClaim), key: 'ns/other', uid: 'c-2' };
  const newcomer = claim({ phase: 'Pending', memGiB: 12 });
  const held = planBind({ ...observe(newcomer, [], { nodes: [small] }), lostClaims: () => [lostReq] });
  assert.equal(held.kind, 'unplaced');
  assert.equal(held.kind === 'unplaced' && held.reason, 'CapacityHeldForLostClaims');
  assert.match(held.kind === 'unplaced' ? held.message : '', /held for 1 claim\(s\) that lost their GPU/);
  // Room for both: the newcomer is placed.
  const big = planBind({ ...observe(claim({ memGiB: 12 }), [], { nodes: [node('g1')] }), lostClaims: () => [lostReq] });
  assert.equal(big.kind, 'reserve');
  // A Lost claim itself does not wait for the others.
  const self = planBind({ ...observe(lostClaim, [], { nodes: [small] }), lostClaims: () => [lostReq] });
  assert.equal(self.kind, 'reserve');
  // A newcomer that would not fit anyway gets the real reason.
  const tooBig = planBind({ ...observe(claim({ memGiB: 40 }), [], { nodes: [small] }), lostClaims: () => [lostReq] });
  assert.equal(tooBig.kind === 'unplaced' && tooBig.reason, 'InsufficientMemory');
});
