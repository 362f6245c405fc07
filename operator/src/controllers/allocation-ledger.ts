// What is allocated where, derived from the claims: a claim's status.allocation is the source of
// truth, so this ledger is rebuilt from the claim cache after any restart and never needs a write of
// its own. Binds in flight are "assumed" (kube-scheduler's assume cache): placement subtracts them
// at once, before their status write lands, so concurrent workers never hand out the same capacity.
// GPUNode.status.allocations is a summary of this ledger, written later and in batches
// (gpunode-controller.ts).
import type { GPUAllocation } from '@avec/api';

export interface LedgerEntry extends GPUAllocation {
  node: string;
  /** status.allocation.boundTime; orders claims when a device turns out overcommitted. */
  boundTime?: string;
}

/** The allocation a claim object holds: status.phase Bound with a well-formed status.allocation. */
export function entryOfClaim(key: string, raw: unknown): LedgerEntry | undefined {
  const o = raw as { metadata?: { uid?: unknown }; status?: { phase?: unknown; allocation?: Record<string, unknown> } } | undefined;
  const a = o?.status?.allocation;
  if (o?.status?.phase !== 'Bound' || !a) return undefined;
  const { node, deviceUUID, memoryBytes, computePercent, boundTime } = a;
  if (typeof node !== 'string' || typeof deviceUUID !== 'string' || typeof memoryBytes !== 'number' || typeof computePercent !== 'number') return undefined;
  return {
    node, deviceUUID, memoryBytes, computePercent, claim: key, claimUID: String(o.metadata?.uid ?? ''),
    ...(typeof boundTime === 'string' ? { boundTime } : {}),
  };
}

export class AllocationLedger {
  private readonly recorded = new Map<string, LedgerEntry>();
  private readonly assumed = new Map<string, LedgerEntry>();
  private readonly byNode = new Map<string, Map<string, LedgerEntry>>();
  /** Bumped per node on every change (lets cached placement views know when to recompute). */
  private readonly versions = new Map<string, number>();
  private readonly listeners: Array<(node: string) => void> = [];

  /** `freed`: capacity was given back on `node` (claims waiting for a GPU may fit now). */
  constructor(private readonly onNodeChange: (node: string, freed: boolean) => void = () => {}) {}

  /** The claim `key` as the cache now holds it (undefined: deleted). */
  observe(key: string, raw: unknown): void {
    const before = this.get(key);
    const e = raw === undefined ? undefined : entryOfClaim(key, raw);
    if (e) this.recorded.set(key, e);
    else this.recorded.delete(key);
    this.update(key, before);
  }

  /** A bind about to be written: counts at once. */
  assume(key: string, e: LedgerEntry): void {
    const before = this.get(key);
    this.assumed.set(key, e);
    this.update(key, before);
  }

  /** The bind was written (observe() has the result) or failed: drop the assumption (only `e`, if given). */
  forget(key: string, e?: LedgerEntry): void {
    if (!this.assumed.has(key) || (e !== undefined && this.assumed.get(key) !== e)) return;
    const before = this.get(key);
    this.assumed.delete(key);
    this.update(key, before);
  }

  /** `fn(node)` on every change of what `node` holds (placement views rebuild just that node). */
  subscribe(fn: (node: string) => void): void {
    this.listeners.push(fn);
  }

  get(key: string): LedgerEntry | undefined {
    return this.assumed.get(key) ?? this.recorded.get(key);
  }

  /** Claims recorded or assumed on `node`. */
  onNode(node: string): LedgerEntry[] {
    return [...(this.byNode.get(node)?.values() ?? [])];
  }

  version(node: string): number {
    return this.versions.get(node) ?? 0;
  }

  nodes(): string[] {
    return [...this.byNode.keys()];
  }

  private update(key: string, before: LedgerEntry | undefined): void {
    const after = this.get(key);
    if (before === after) return;
    // Same capacity in the same place (an assumed bind replaced by its written status): nothing to tell.
    if (before && after && before.node === after.node && before.deviceUUID === after.deviceUUID && before.memoryBytes === after.memoryBytes
      && before.computePercent === after.computePercent) {
      this.byNode.get(after.node)?.set(key, after);
      return;
    }
    if (before) {
      const m = this.byNode.get(before.node);
      m?.delete(key);
      if (m && m.size === 0) this.byNode.delete(before.node);
      this.bump(before.node);
    }
    if (after) {
      let m = this.byNode.get(after.node);
      if (!m) this.byNode.set(after.node, (m = new Map()));
      m.set(key, after);
      if (after.node !== before?.node) this.bump(after.node);
    }
    if (before) this.onNodeChange(before.node, true);
    if (after && after.node !== before?.node) this.onNodeChange(after.node, false);
  }

  private bump(node: string): void {
    this.versions.set(node, (this.versions.get(node) ?? 0) + 1);
    for (const fn of this.listeners) fn(node);
  }
}
