// Pure bookkeeping of what a GPU node holds: the GPUNode status summary rendered from the ledger's
// entries, and which claims a device cannot hold (split brain, or a device that shrank).
import type { GPUNode, GPUAllocation, GPUNodeStatus } from '@avec/api';
import { humanBytes } from '../util/quantity.js';
import type { LedgerEntry } from './allocation-ledger.js';

const total = (allocs: readonly GPUAllocation[]): number => allocs.reduce((s, a) => s + a.memoryBytes, 0);

/** status.memory: capacity, allocated and free in human units, for `kubectl get gpunodes`. */
export function memorySummary(node: Pick<GPUNode, 'spec'>, allocs: readonly GPUAllocation[]): NonNullable<GPUNodeStatus['memory']> {
  const capacity = node.spec.devices.reduce((s, d) => s + d.memoryBytes, 0);
  const allocated = total(allocs);
  return { capacity: humanBytes(capacity), allocated: humanBytes(allocated), free: humanBytes(capacity - allocated) };
}

export type AllocationSummary = Pick<GPUNodeStatus, 'allocations' | 'allocatedMemoryBytes' | 'memory'>;

/** GPUNode status.allocations (sorted by claim), allocatedMemoryBytes and memory for these entries. */
export function allocationSummary(node: Pick<GPUNode, 'spec'>, entries: readonly LedgerEntry[]): AllocationSummary {
  const allocations: GPUAllocation[] = entries
    .map((e) => ({ claimUID: e.claimUID, claim: e.claim, memoryBytes: e.memoryBytes, computePercent: e.computePercent, deviceUUID: e.deviceUUID }))
    .sort((a, b) => (a.claim < b.claim ? -1 : a.claim > b.claim ? 1 : 0));
  return { allocations, allocatedMemoryBytes: total(allocations), memory: memorySummary(node, allocations) };
}

export function sameSummary(a: Partial<AllocationSummary> | undefined, b: AllocationSummary): boolean {
  const strip = (xs: readonly GPUAllocation[] | undefined): string =>
    JSON.stringify((xs ?? []).map((x) => [x.claimUID, x.claim, x.memoryBytes, x.computePercent, x.deviceUUID]));
  return strip(a?.allocations) === strip(b.allocations) && a?.allocatedMemoryBytes === b.allocatedMemoryBytes
    && JSON.stringify(a?.memory ?? null) === JSON.stringify(b.memory ?? null);
}

/**
 * Claims a device cannot hold: taking the claims oldest bind first (then by name; binds not yet
 * written last), each keeps its place while it fits; those that do not fit are the ones to move.
 * Deterministic, so two replicas pick the same claims.
 */
export function overcommittedClaims(node: Pick<GPUNode, 'spec'>, entries: readonly LedgerEntry[]): Set<string> {
  const out = new Set<string>();
  for (const d of node.spec.devices) {
    const on = entries.filter((e) => e.deviceUUID === d.uuid)
      .sort((a, b) => cmp(a.boundTime ?? '\uffff', b.boundTime ?? '\uffff') || cmp(a.claim, b.claim));
    let mem = 0;
    let cpct = 0;
    for (const e of on) {
      if (mem + e.memoryBytes > d.memoryBytes || cpct + e.computePercent > 100) {
        out.add(e.claim);
        continue;
      }
      mem += e.memoryBytes;
      cpct += e.computePercent;
    }
  }
  return out;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
