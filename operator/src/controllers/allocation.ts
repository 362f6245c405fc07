// Pure bookkeeping of GPUNode.status.allocations: add (only if it still fits) and remove.
import type { GPUNode, GPUAllocation, GPUNodeStatus } from '@avec/api';
import { nodeViewFrom } from '../placement/model.js';
import { humanBytes } from '../util/quantity.js';

export type AddResult = { ok: true; status: GPUNodeStatus; changed: boolean } | { ok: false; reason: string; message: string };

const total = (allocs: readonly GPUAllocation[]): number => allocs.reduce((s, a) => s + a.memoryBytes, 0);

/** status.memory: capacity, allocated and free in human units, for `kubectl get gpunodes`. */
export function memorySummary(node: Pick<GPUNode, 'spec'>, allocs: readonly GPUAllocation[]): NonNullable<GPUNodeStatus['memory']> {
  const capacity = node.spec.devices.reduce((s, d) => s + d.memoryBytes, 0);
  const allocated = total(allocs);
  return { capacity: humanBytes(capacity), allocated: humanBytes(allocated), free: humanBytes(capacity - allocated) };
}

export function withAllocation(node: GPUNode, alloc: GPUAllocation): AddResult {
  const status: GPUNodeStatus = node.status ?? { allocations: [], conditions: [] };
  const existing = status.allocations.find((a) => a.claimUID === alloc.claimUID);
  if (existing && existing.deviceUUID === alloc.deviceUUID && existing.memoryBytes === alloc.memoryBytes && existing.computePercent === alloc.computePercent && existing.reservation === alloc.reservation) {
    return { ok: true, status, changed: false };
  }
  const view = nodeViewFrom(node, true, alloc.claimUID);
  const dev = view.devices.find((d) => d.uuid === alloc.deviceUUID);
  if (!dev) return { ok: false, reason: 'DeviceGone', message: `device ${alloc.deviceUUID} is no longer on ${node.metadata.name}` };
  if (dev.freeMemoryBytes < alloc.memoryBytes) {
    return { ok: false, reason: 'InsufficientMemory', message: `device ${alloc.deviceUUID} on ${node.metadata.name} has ${dev.freeMemoryBytes} bytes free, needs ${alloc.memoryBytes}` };
  }
  if (dev.freeComputePercent < alloc.computePercent) {
    return { ok: false, reason: 'InsufficientCompute', message: `device ${alloc.deviceUUID} on ${node.metadata.name} has ${dev.freeComputePercent}% compute free` };
  }
  const allocations = [...status.allocations.filter((a) => a.claimUID !== alloc.claimUID), alloc].sort((a, b) => (a.claim < b.claim ? -1 : a.claim > b.claim ? 1 : 0));
  return { ok: true, changed: true, status: { ...status, allocations, allocatedMemoryBytes: total(allocations), memory: memorySummary(node, allocations) } };
}

/** The status without the claim's allocation, or undefined when it held none. */
export function withoutAllocation(node: GPUNode, claimUID: string): GPUNodeStatus | undefined {
  const status = node.status;
  if (!status || !status.allocations.some((a) => a.claimUID === claimUID)) return undefined;
  const allocations = status.allocations.filter((a) => a.claimUID !== claimUID);
  return { ...status, allocations, allocatedMemoryBytes: total(allocations), memory: memorySummary(node, allocations) };
}
