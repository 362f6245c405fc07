// GPUNode reconcile: Ready from heartbeat age, and status.allocations as a summary of the allocation
// ledger (derived from the claims, so allocations of deleted claims simply drop out). The summary is
// for people and dashboards, not for placement: it is written at most once per
// --node-summary-interval per node, and not while claims wait to be bound (for at most a minute), so
// a burst of binds costs about one GPUNode write per node instead of one per claim. The claims of a
// node that turned NotReady are re-queued (the claim controller marks them Lost and places them again).
import { allocationSummary, sameSummary } from './allocation.js';
import { GROUP, VERSION, toIso } from '@avec/api';
import { setCondition, findCondition } from './conditions.js';
import type { KubeObject } from '../kube/informer.js';
import { replaceStatus } from '../kube/status-writer.js';
import type { ReconcileResult } from '../kube/controller-loop.js';
import type { OperatorContext } from './context.js';

/** Longest a GPUNode summary waits for the claim queue to drain before it is written anyway. */
export const SUMMARY_MAX_LAG_MS = 60_000;

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
  /** When each node's allocation summary was last written, and since when it is out of date (ms). */
  private readonly summaryWrittenAt = new Map<string, number>();
  private readonly staleSince = new Map<string, number>();

  constructor(
    private readonly ctx: OperatorContext,
    private readonly enqueueClaim: (key: string) => void,
  ) {}

  async reconcile(name: string): Promise<ReconcileResult> {
    this.ctx.nodes.refresh(name);
    const node = this.ctx.nodes.get(name);
    if (!node) {
      this.summaryWrittenAt.delete(name);
      this.staleSince.delete(name);
      return {};
    }
    const now = this.ctx.clock.now();
    const rc = readyCondition({ heartbeatTime: toIso(node.status?.heartbeatTime), nowMs: now, timeoutMs: this.ctx.heartbeatTimeoutMs });
    const prev = findCondition(node.status?.conditions, 'Ready');
    const held = this.ctx.ledger.onNode(name);
    // Claims on a node that is not ready are re-queued every round (their controller re-places them).
    if (rc.status === 'False') for (const a of held) this.enqueueClaim(a.claim);
    const readyChanged = prev?.status !== rc.status || prev?.reason !== rc.reason;
    const summary = allocationSummary(node, held);
    const summaryChanged = !sameSummary(node.status, summary);
    const recheck = rc.recheckInMs;
    if (summaryChanged && !readyChanged) {
      let wait = (this.summaryWrittenAt.get(name) ?? -Infinity) + this.ctx.nodeSummaryIntervalMs - now;
      // Binds first: while claims wait in the queue, a summary-only write (a large object for the API
      // server) waits too, for at most SUMMARY_MAX_LAG_MS since the summary went stale.
      const staleSince = this.staleSince.get(name) ?? now;
      this.staleSince.set(name, staleSince);
      if (wait <= 0 && this.ctx.claimBacklog() > 0 && now - staleSince < SUMMARY_MAX_LAG_MS) wait = 1_000;
      if (wait > 0) return { requeueAfterMs: Math.min(wait, recheck ?? wait) };
    }
    if (readyChanged || summaryChanged) {
      const conditions = readyChanged
        ? setCondition(node.status?.conditions ?? [], { type: 'Ready', status: rc.status, reason: rc.reason, message: rc.message }, node.metadata.generation, new Date(now).toISOString())
        : (node.status?.conditions ?? []);
      const raw = this.ctx.gpuNodes.get(name) as KubeObject & Record<string, unknown>;
      // The node's resourceVersion is the precondition: a heartbeat in between makes this a 409 and a retry.
      await replaceStatus(this.ctx.api.gpuNodes, this.ctx.gpuNodes, { name, raw: { ...raw, apiVersion: `${GROUP}/${VERSION}`, kind: 'GPUNode' } }, { ...((raw.status as object) ?? {}), conditions, ...summary });
      this.ctx.nodes.refresh(name);
      if (summaryChanged) {
        this.summaryWrittenAt.set(name, now);
        this.staleSince.delete(name);
      }
      if (readyChanged && prev?.status !== rc.status) {
        this.ctx.log.info('GPU node readiness changed', { name, kind: 'GPUNode', ready: rc.status, reason: rc.reason });
        await this.ctx.events.emit({ apiVersion: `${GROUP}/${VERSION}`, kind: 'GPUNode', name, uid: node.metadata.uid }, rc.status === 'True' ? 'Normal' : 'Warning', rc.status === 'True' ? 'NodeReady' : 'NodeNotReady', rc.message);
      }
    }
    return recheck !== undefined ? { requeueAfterMs: recheck } : {};
  }
}
