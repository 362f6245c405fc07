import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAllocation, withoutAllocation } from './allocation.js';
import { gpuNodeSchema } from '@avec/api';

const GiB = 2 ** 30;
const node = gpuNodeSchema.parse({
  metadata: { name: 'g', resourceVersion: '7' },
  spec: { nodeName: 'g', endpoint: 'g:1', devices: [{ uuid: 'D', model: 'm', memoryBytes: 10 * GiB, computeCapability: '9.0' }] },
  status: { allocations: [{ claimUID: 'u1', claim: 'n/a', memoryBytes: 6 * GiB, computePercent: 50, deviceUUID: 'D' }], allocatedMemoryBytes: 6 * GiB },
});
const a = (uid: string, mem: number, cpct = 10) => ({ claimUID: uid, claim: `n/${uid}`, memoryBytes: mem, computePercent: cpct, deviceUUID: 'D' });

test('withAllocation: exact fit accepted, one byte over refused, compute checked, idempotent', () => {
  const ok = withAllocation(node, a('u2', 4 * GiB));
  assert.equal(ok.ok && ok.status.allocatedMemoryBytes, 10 * GiB);
  assert.equal(ok.ok && ok.status.allocations.length, 2);
  const over = withAllocation(node, a('u2', 4 * GiB + 1));
  assert.equal(over.ok ? '' : over.reason, 'InsufficientMemory');
  const cpu = withAllocation(node, a('u2', GiB, 51));
  assert.equal(cpu.ok ? '' : cpu.reason, 'InsufficientCompute');
  const same = withAllocation(node, a('u1', 6 * GiB, 50));
  assert.equal(same.ok && same.changed, false);
  // Re-sizing the claim's own allocation does not count it twice.
  const grow = withAllocation(node, a('u1', 10 * GiB, 50));
  assert.equal(grow.ok && grow.status.allocatedMemoryBytes, 10 * GiB);
  const gone = withAllocation(node, { ...a('u3', 1), deviceUUID: 'X' });
  assert.equal(gone.ok ? '' : gone.reason, 'DeviceGone');
});

test('withoutAllocation', () => {
  assert.equal(withoutAllocation(node, 'nope'), undefined);
  const s = withoutAllocation(node, 'u1');
  assert.deepEqual([s?.allocations.length, s?.allocatedMemoryBytes], [0, 0]);
});
