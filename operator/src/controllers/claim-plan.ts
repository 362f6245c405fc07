// The claim controller's decision, pure: plan(observed) -> action. What the API server and the caches
// hold goes in (the parsed claim, its reservation, the allocations recorded for it on GPU nodes and
// whether those nodes are ready, the placement views); one action comes out, which reconcile()
// executes. Table tests pin every branch (claim-plan.test.ts).
import { z } from 'zod';
import { FINALIZER, RESERVATION_ANNOTATION, type ClaimAllocation, type GPUAllocation, type GPUNode, type VirtualGPUClaim } from '@avec/api';
import { nodeViewFrom, type ClaimRequest, type NodeView } from '../placement/model.js';
import { latencyFrom, placeClaim } from '../placement/place.js';

/**
 * Annotation holding the placement being bound: JSON {"node", "device", "id"}. The id is copied into
 * the GPUNode allocation, so an allocation made for a superseded reservation (by a replica with a
 * stale view) is recognised and released.
 */
export interface Reservation {
  node: string;
  device: string;
  id: string;
}
const reservationSchema = z.object({ node: z.string().min(1), device: z.string().min(1), id: z.string().min(1) });

export function readReservation(ann: Record<string, string> | undefined): Reservation | undefined {
  const v = ann?.[RESERVATION_ANNOTATION];
  if (!v) return undefined;
  try {
    const r = reservationSchema.safeParse(JSON.parse(v));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export interface AllocationRecord {
  node: GPUNode;
  alloc: GPUAllocation;
  ready: boolean;
}

export interface BindObserved {
  claim: VirtualGPUClaim;
  request: ClaimRequest;
  /** Allocations recorded for this claim's uid on GPU nodes. */
  records: AllocationRecord[];
  /** The node the claim's reservation names, when the cache has it. */
  reservedNode?: { node: GPUNode; ready: boolean };
  /** The placement views of every GPU node (called only when the claim has to be placed). */
  views: () => readonly NodeView[];
  /**
   * Requests of the other claims that lost their GPU in a node failure and wait to be placed again,
   * oldest first (empty when the policy is off). A claim that never had a GPU places only into what
   * is left after them: workloads that were running get their capacity back first.
   */
  lostClaims?: () => readonly ClaimRequest[];
}

export type BindAction =
  /** Allocations of superseded reservations, or duplicates: release them, then look again. */
  | { kind: 'release'; records: AllocationRecord[]; why: 'superseded' | 'duplicate' }
  /** Recorded, but the finalizer is missing (edited by hand?): guard the allocation again. */
  | { kind: 'guard'; reservation: Reservation | null }
  /** The recorded node or device is gone: release, mark Lost, place again on the next round. */
  | { kind: 'lost'; record: AllocationRecord; reason: 'NodeLost' | 'DeviceGone'; message: string }
  /** Recorded with another size than the spec asks (changed while not Bound): record the new size. */
  | { kind: 'resize'; record: AllocationRecord; allocation: ClaimAllocation }
  /** Recorded and fine: Secret and status Bound (no-ops when already so). */
  | { kind: 'finish'; allocation: ClaimAllocation }
  /** Reserved on a ready node but not recorded there: record it (after re-reading the reservation). */
  | { kind: 'commit-reservation'; reservation: Reservation; node: GPUNode; allocation: ClaimAllocation }
  /** Reserved on a node that is gone or not ready: drop the reservation (Lost if it was Bound). */
  | { kind: 'drop-reservation'; reservation: Reservation; markLost: boolean }
  /** No GPU fits: say why, try again later. */
  | { kind: 'unplaced'; reason: string; message: string }
  /** Placed: reserve on the claim, record on the node, then finish. */
  | { kind: 'reserve'; node: string; deviceUUID: string; allocation: ClaimAllocation };

function allocationOn(node: GPUNode, req: ClaimRequest, deviceUUID: string, memoryBytes: number, computePercent: number, boundTime?: string): ClaimAllocation {
  return {
    node: node.metadata.name,
    site: node.spec.site || undefined,
    deviceUUID,
    endpoint: node.spec.endpoint,
    memoryBytes,
    computePercent,
    latencyMs: latencyFrom(nodeViewFrom(node, true), req.site),
    ...(boundTime !== undefined ? { boundTime } : {}),
  };
}

export function planBind(o: BindObserved): BindAction {
  const { claim, request: req } = o;
  const reservation = readReservation(claim.metadata.annotations);

  // Where is it recorded? Keep one record (the one the reservation or status names), release the others.
  const stray = o.records.filter((r) => r.alloc.reservation !== undefined && r.alloc.reservation !== reservation?.id);
  if (stray.length) return { kind: 'release', records: stray, why: 'superseded' };
  if (o.records.length > 1) {
    const want = reservation?.node ?? claim.status?.allocation?.node;
    const keep = o.records.find((r) => r.node.metadata.name === want) ?? o.records[0];
    return { kind: 'release', records: o.records.filter((r) => r !== keep), why: 'duplicate' };
  }

  const rec = o.records[0];
  if (rec) {
    const node = rec.node;
    if (!(claim.metadata.finalizers ?? []).includes(FINALIZER)) return { kind: 'guard', reservation: reservation ?? null };
    if (!rec.ready) return { kind: 'lost', record: rec, reason: 'NodeLost', message: `GPU node ${node.metadata.name} stopped heart-beating` };
    if (!node.spec.devices.some((d) => d.uuid === rec.alloc.deviceUUID)) {
      return { kind: 'lost', record: rec, reason: 'DeviceGone', message: `device ${rec.alloc.deviceUUID} is no longer reported by ${node.metadata.name}` };
    }
    const boundTime = claim.status?.allocation?.boundTime;
    if (rec.alloc.memoryBytes !== req.memoryBytes || rec.alloc.computePercent !== req.computePercent) {
      // The spec changed while not Bound (CEL forbids it while Bound).
      return { kind: 'resize', record: rec, allocation: allocationOn(node, req, rec.alloc.deviceUUID, req.memoryBytes, req.computePercent, boundTime) };
    }
    return { kind: 'finish', allocation: allocationOn(node, req, rec.alloc.deviceUUID, rec.alloc.memoryBytes, rec.alloc.computePercent, boundTime) };
  }

  // Reserved but not recorded (a crash between the steps, a conflict, or released after a node loss).
  if (reservation) {
    const target = o.reservedNode;
    if (target?.ready) {
      return { kind: 'commit-reservation', reservation, node: target.node, allocation: allocationOn(target.node, req, reservation.device, req.memoryBytes, req.computePercent) };
    }
    return { kind: 'drop-reservation', reservation, markLost: claim.status?.phase === 'Bound' };
  }

  const views = o.views();
  const lost = claim.status?.phase === 'Lost' ? [] : (o.lostClaims?.() ?? []);
  const held = lost.length ? holdCapacity(views, lost) : undefined;
  const decision = placeClaim(req, held?.views ?? views);
  if (!decision.ok) {
    if (held && held.count > 0 && placeClaim(req, views).ok) {
      return {
        kind: 'unplaced', reason: 'CapacityHeldForLostClaims',
        message: `the GPU capacity that fits is held for ${held.count} claim(s) that lost their GPU in a node failure; they are placed first (operator flag --lost-claims-first)`,
      };
    }
    return { kind: 'unplaced', reason: decision.reason, message: decision.message };
  }
  return {
    kind: 'reserve',
    node: decision.node,
    deviceUUID: decision.deviceUUID,
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

/** `views` with what placing `requests` in order would take subtracted (copies; the inputs are shared caches). */
export function holdCapacity(views: readonly NodeView[], requests: readonly ClaimRequest[]): { views: NodeView[]; count: number } {
  const out = [...views];
  let count = 0;
  for (const r of requests) {
    const d = placeClaim(r, out);
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
