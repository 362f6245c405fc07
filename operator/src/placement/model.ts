// The pure placement model: what placement needs to know about claims and GPU nodes, built from CRs.
import { type VirtualGPUClaim, type PlacementPolicy, type GPUNode, toIso } from '@avec/api';
import { parseQuantityBytes } from '../util/quantity.js';

export interface ClaimRequest {
  /** "<namespace>/<name>" */
  key: string;
  uid: string;
  memoryBytes: number;
  computePercent: number;
  /** Site the workload runs in; latency is measured from here. */
  site?: string;
  sites: string[];
  siteMode: 'Required' | 'Preferred';
  maxLatencyMs?: number;
  policy: PlacementPolicy;
  models: string[];
  minComputeCapability?: string;
  /** Sort key for batch placement (older first); ISO time or "". */
  createdAt: string;
}

export interface DeviceView {
  uuid: string;
  model: string;
  computeCapability: string;
  memoryBytes: number;
  freeMemoryBytes: number;
  freeComputePercent: number;
}

export interface NodeView {
  name: string;
  site: string;
  endpoint: string;
  ready: boolean;
  devices: DeviceView[];
  /** Round-trip time in ms from this node to each site. */
  rttMs: ReadonlyMap<string, number>;
}

export type PlacementReason =
  | 'NoReadyNode'
  | 'NoNodeInSite'
  | 'NoMatchingGPU'
  | 'NoNodeWithinLatency'
  | 'InsufficientMemory'
  | 'InsufficientCompute';

export interface Placement {
  ok: true;
  node: string;
  site: string;
  deviceUUID: string;
  endpoint: string;
  latencyMs?: number;
  memoryBytes: number;
  computePercent: number;
}
export interface PlacementFailure {
  ok: false;
  reason: PlacementReason;
  message: string;
}
export type PlacementDecision = Placement | PlacementFailure;

export function claimRequestFrom(claim: VirtualGPUClaim): ClaimRequest {
  const p = claim.spec.placement;
  return {
    key: `${claim.metadata.namespace ?? ''}/${claim.metadata.name}`,
    uid: claim.metadata.uid,
    memoryBytes: parseQuantityBytes(claim.spec.memory),
    computePercent: claim.spec.computePercent,
    site: p.site,
    sites: p.sites,
    siteMode: p.siteMode,
    maxLatencyMs: p.maxLatencyMs,
    policy: p.policy,
    models: claim.spec.selector.models,
    minComputeCapability: claim.spec.selector.minComputeCapability,
    createdAt: toIso(claim.metadata.creationTimestamp) ?? '',
  };
}

/** Heartbeat age decides readiness: a node whose server stopped reporting gets no new claims. */
export function isHeartbeatFresh(node: GPUNode, nowMs: number, timeoutMs: number): boolean {
  const hb = toIso(node.status?.heartbeatTime);
  if (hb === undefined) return false;
  const t = Date.parse(hb);
  return Number.isFinite(t) && nowMs - t <= timeoutMs;
}

/** What an allocation takes from a device. */
export interface DeviceUse {
  claimUID: string;
  deviceUUID: string;
  memoryBytes: number;
  computePercent: number;
}

/**
 * A node's free capacity, given what is allocated on it (the operator passes its ledger, derived
 * from the claims; by default the node's status.allocations summary). `ignoreClaimUID` leaves one
 * claim's own allocation out.
 */
export function nodeViewFrom(node: GPUNode, ready: boolean, ignoreClaimUID?: string, uses: readonly DeviceUse[] = node.status?.allocations ?? []): NodeView {
  const allocs = uses.filter((a) => a.claimUID !== ignoreClaimUID);
  const devices = node.spec.devices
    .map((d): DeviceView => {
      let mem = 0;
      let cpct = 0;
      for (const a of allocs) {
        if (a.deviceUUID === d.uuid) {
          mem += a.memoryBytes;
          cpct += a.computePercent;
        }
      }
      return {
        uuid: d.uuid,
        model: d.model,
        computeCapability: d.computeCapability,
        memoryBytes: d.memoryBytes,
        freeMemoryBytes: d.memoryBytes - mem,
        freeComputePercent: 100 - cpct,
      };
    })
    .sort((a, b) => cmpStr(a.uuid, b.uuid));
  const rtt = new Map<string, number>();
  for (const l of node.spec.links) {
    const prev = rtt.get(l.site);
    if (prev === undefined || l.source === 'measured') rtt.set(l.site, l.rttMs);
  }
  return { name: node.metadata.name, site: node.spec.site, endpoint: node.spec.endpoint, ready, devices, rttMs: rtt };
}

export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
