// GPUNode reconcile: Ready from heartbeat age (written by the operator), stale allocations of
// deleted claims garbage-collected, and the claims of a node that turned NotReady re-queued
// (the claim controller marks them Lost and places them again).
import { memorySummary } from './allocation.js';
import { GROUP, VERSION, type GPUNode, toIso } from '@avec/api';
import { setCondition, findCondition } from './conditions.js';
import { splitKey } from '../kube/keys.js';
import { isStatus } from '@avec/kube';
import type { KubeObject } from '../kube/informer.js';
import { replaceStatus } from '../kube/status-writer.js';
import type { ReconcileResult } from '../kube/controller-loop.js';
import type { OperatorContext } from './context.js';

export interface ReadyInput {
  heartbeatTime?: string;
  nowMs: number;
  timeoutMs: number;
}

/** Pure: the Ready condition for a heartbeat age, and when to look again. */
export function readyCondition(i: ReadyInput): { status: 'True' | 'False'; reason: string; message: string; recheckInMs?: number } {
  if (!i.heartbeatTime) return { status: 'False', reason: 'NoHeartbeat', message: 'the remoting server has not reported a heartbeat yet' };
  const t = Date.parse(i.heartbeatTime);
  const age = i.nowMs - t;
  if (!Number.isFinite(t) || age > i.timeoutMs) {
    return { status: 'False', reason: 'HeartbeatStale', message: `last heartbeat ${Math.round(age / 1000)} s ago (timeout ${Math.round(i.timeoutMs / 1000)} s)` };
  }
  return { status: 'True', reason: 'HeartbeatFresh', message: 'the remoting server is heart-beating', recheckInMs: i.timeoutMs - age + 1 };
}

export class GPUNodeController {
  constructor(
    private readonly ctx: OperatorContext,
    private readonly enqueueClaim: (key: string) => void,
  ) {}

  async reconcile(name: string): Promise<ReconcileResult> {
    this.ctx.nodes.refresh(name);
    const node = this.ctx.nodes.get(name);
    if (!node) return {};
    const now = this.ctx.clock.now();
    const rc = readyCondition({ heartbeatTime: toIso(node.status?.heartbeatTime), nowMs: now, timeoutMs: this.ctx.heartbeatTimeoutMs });
    const prev = findCondition(node.status?.conditions, 'Ready');
    // Claims on a node that is not ready are re-queued every round (their controller re-places them).
    if (rc.status === 'False') for (const a of node.status?.allocations ?? []) this.enqueueClaim(a.claim);
    const orphans = await this.orphanAllocations(node);
    if (prev?.status !== rc.status || prev?.reason !== rc.reason || orphans.length > 0) {
      const conditions = setCondition(node.status?.conditions ?? [], { type: 'Ready', status: rc.status, reason: rc.reason, message: rc.message }, node.metadata.generation, new Date(now).toISOString());
      const allocations = (node.status?.allocations ?? []).filter((a) => !orphans.includes(a.claimUID));
      const raw = this.ctx.gpuNodes.get(name) as KubeObject & Record<string, unknown>;
      const status = { ...((raw.status as object) ?? {}), conditions, allocations, allocatedMemoryBytes: allocations.reduce((s, a) => s + a.memoryBytes, 0), memory: memorySummary(node, allocations) };
      await replaceStatus(this.ctx.api.gpuNodes, this.ctx.gpuNodes, { name, raw: { ...raw, apiVersion: `${GROUP}/${VERSION}`, kind: 'GPUNode' } }, status);
      this.ctx.nodes.refresh(name);
      if (prev?.status !== rc.status) {
        this.ctx.log.info('GPU node readiness changed', { name, kind: 'GPUNode', ready: rc.status, reason: rc.reason });
        await this.ctx.events.emit({ apiVersion: `${GROUP}/${VERSION}`, kind: 'GPUNode', name, uid: node.metadata.uid }, rc.status === 'True' ? 'Normal' : 'Warning', rc.status === 'True' ? 'NodeReady' : 'NodeNotReady', rc.message);
      }
      if (orphans.length) this.ctx.log.info('released allocations of deleted claims', { name, kind: 'GPUNode', claimUIDs: orphans });
    }
    return rc.recheckInMs !== undefined ? { requeueAfterMs: rc.recheckInMs } : {};
  }

  /** Allocations whose claim no longer exists (confirmed by a direct GET, the cache may lag). */
  private async orphanAllocations(node: GPUNode): Promise<string[]> {
    if (!this.ctx.claims.hasSynced()) return [];
    const out: string[] = [];
    for (const a of node.status?.allocations ?? []) {
      const cached = this.ctx.claims.get(a.claim);
      if (cached && (cached.metadata as { uid?: string } | undefined)?.uid === a.claimUID) continue;
      const [ns, n] = splitKey(a.claim);
      try {
        const live = await this.ctx.api.claims.get(n, ns);
        if (live.metadata?.uid === a.claimUID) continue;
      } catch (err) {
        if (!isStatus(err, 404)) continue;
      }
      out.push(a.claimUID);
    }
    return out;
  }
}
