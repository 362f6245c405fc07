// The claim controller's decision, pure: plan(observed) -> action. What the caches hold goes in (the
// parsed claim, the allocation its status records and whether that node is ready, the placement
// views); one action comes out, which reconcile() executes. Table tests pin every branch
// (claim-plan.test.ts).
//
// The claim's status.allocation is the source of truth for what it holds: a bind is one status write
// (resourceVersion precondition), and the allocation ledger (allocation-ledger.ts) is derived from
// the claims, so an operator that restarts re-derives exactly what is allocated.
import type { ClaimAllocation, GPUNode, VirtualGPUClaim } from '@avec/api';
import { nodeViewFrom, type ClaimRequest, type NodeView } from '../placement/model.js';
import { latencyFrom, placeClaim, type SiteLatencies } from '../placement/place.js';

export interface BoundRecord {
  /** The GPU node the claim's status names (absent: the GPUNode is gone). */
  node?: GPUNode;
  ready: boolean;
  allocation: ClaimAllocation;
  /**
   * The device holds more than it has, and this claim is among the youngest on it: only possible
   * when two operator replicas bound at once (split brain) or the device shrank.
   */
  overcommitted?: boolean;
}

export interface BindObserved {
  claim: VirtualGPUClaim;
  request: ClaimRequest;
  /** The allocation the claim's status records (phase Bound), with its node. */
  bound?: BoundRecord;
  /** The placement views of every GPU node (called only when the claim has to be placed). */
  views: () => readonly NodeView[];
  /** Latency from a site to each node of views(), in its order, and nodes by latency (optional; placement visits nearest first). */
  latencies?: (site: string) => SiteLatencies;
  /**
   * Requests of the other claims that lost their GPU in a node failure and wait to be placed again,
   * oldest first (empty when the policy is off). A claim that never had a GPU places only into what
   * is left after them: workloads that were running get their capacity back first.
   */
  lostClaims?: () => readonly ClaimRequest[];
}

export type BindAction =
  /** The bound node or device is gone (or the device is overcommitted): mark Lost, place again next round. */
  | { kind: 'lost'; node: string; reason: 'NodeLost' | 'DeviceGone' | 'Overcommitted'; message: string }
  /** Bound and fine: Secret and status current (no-ops when already so). */
  | { kind: 'finish'; allocation: ClaimAllocation }
  /** No GPU fits: say why, try again later. */
  | { kind: 'unplaced'; reason: string; message: string }
  /** Placed: Secret, then status Bound with the allocation (the one write that allocates). */
  | { kind: 'bind'; allocation: ClaimAllocation };

export function planBind(o: BindObserved): BindAction {
  const { claim, request: req } = o;
  const b = o.bound;
  if (b) {
    const name = b.allocation.node;
    if (!b.node || !b.ready) return { kind: 'lost', node: name, reason: 'NodeLost', message: `GPU node ${name} ${b.node ? 'stopped heart-beating' : 'is gone'}` };
    const node = b.node;
    if (!node.spec.devices.some((d) => d.uuid === b.allocation.deviceUUID)) {
      return { kind: 'lost', node: name, reason: 'DeviceGone', message: `device ${b.allocation.deviceUUID} is no longer reported by ${name}` };
    }
    if (b.overcommitted) {
      return { kind: 'lost', node: name, reason: 'Overcommitted', message: `device ${b.allocation.deviceUUID} on ${name} holds more than its capacity; the youngest claims on it are placed again` };
    }
    return {
      kind: 'finish',
      allocation: {
        ...b.allocation,
        site: node.spec.site || undefined,
        endpoint: node.spec.endpoint,
        latencyMs: latencyFrom(nodeViewFrom(node, true, undefined, []), req.site),
      },
    };
  }

  const views = o.views();
  const lat = (site: string | undefined): SiteLatencies | undefined => (site !== undefined ? o.latencies?.(site) : undefined);
  const lost = claim.status?.phase === 'Lost' ? [] : (o.lostClaims?.() ?? []);
  const held = lost.length ? holdCapacity(views, lost, o.latencies) : undefined;
  const decision = placeClaim(req, held?.views ?? views, lat(req.site));
  if (!decision.ok) {
    if (held && held.count > 0 && placeClaim(req, views, lat(req.site)).ok) {
      return {
        kind: 'unplaced', reason: 'CapacityHeldForLostClaims',
        message: `the GPU capacity that fits is held for ${held.count} claim(s) that lost their GPU in a node failure; they are placed first (operator flag --lost-claims-first)`,
      };
    }
    return { kind: 'unplaced', reason: decision.reason, message: decision.message };
  }
  return {
    kind: 'bind',
    allocation: {
      node: decision.node,
      site: decision.site || undefined,
      deviceUUID: decision.deviceUUID,
      endpoint: decision.endpoint,
      memoryBytes: decision.memoryBytes,
      computePercent: decision.computePercent,
      latencyMs: decision.latencyMs,
    },
  };
}

/**
 * `views` with what placing `requests` in order would take subtracted (copies in the same order;
 * the inputs are shared caches).
 */
export function holdCapacity(views: readonly NodeView[], requests: readonly ClaimRequest[], latencies?: (site: string) => SiteLatencies): { views: NodeView[]; count: number } {
  const out = [...views];
  let count = 0;
  for (const r of requests) {
    const d = placeClaim(r, out, r.site !== undefined ? latencies?.(r.site) : undefined);
    if (!d.ok) continue;
    const i = out.findIndex((n) => n.name === d.node);
    const n = out[i]!;
    out[i] = {
      ...n,
      devices: n.devices.map((dev) => dev.uuid === d.deviceUUID
        ? { ...dev, freeMemoryBytes: dev.freeMemoryBytes - d.memoryBytes, freeComputePercent: dev.freeComputePercent - d.computePercent }
        : dev),
    };
    count++;
  }
  return { views: out, count };
}
