// Placement: a pure function from (claims, GPU nodes, links) to decisions. Deterministic: inputs are
// ordered internally, ties are broken by node name then device UUID.
import { formatBytes } from '../util/quantity.js';
import {
  cmpStr,
  type ClaimRequest,
  type DeviceView,
  type NodeView,
  type PlacementDecision,
  type PlacementFailure,
} from './model.js';

/** RTT from the claim's site to the node; 0 within the same site unless measured; undefined if unknown. */
export function latencyFrom(node: NodeView, site: string | undefined): number | undefined {
  if (site === undefined) return undefined;
  const rtt = node.rttMs.get(site);
  if (rtt !== undefined) return rtt;
  return node.site === site ? 0 : undefined;
}

export function parseCC(cc: string): number {
  const [maj, min] = cc.split('.');
  return Number(maj) * 1000 + Number(min);
}

interface Candidate {
  node: NodeView;
  device: DeviceView;
  tier: number;
  latency: number;
  freeAfter: number;
  usedFracAfter: number;
}

// Lower is better. Returns <0 when a ranks before b. Ties: node name, then device UUID.
function compare(policy: ClaimRequest['policy'], a: Candidate, b: Candidate): number {
  if (a.tier !== b.tier) return a.tier - b.tier;
  let d = 0;
  if (policy === 'nearest') d = a.latency - b.latency || a.freeAfter - b.freeAfter;
  else if (policy === 'binpack') d = a.freeAfter - b.freeAfter || a.latency - b.latency;
  else d = a.usedFracAfter - b.usedFracAfter || a.latency - b.latency;
  if (d !== 0 && !Number.isNaN(d)) return d;
  return cmpStr(a.node.name, b.node.name) || cmpStr(a.device.uuid, b.device.uuid);
}

const fail = (reason: PlacementFailure['reason'], message: string): PlacementFailure => ({ ok: false, reason, message });

/** Latency from one site to every node of a views array, in its order, and that order sorted by it. */
export interface SiteLatencies {
  /** latencyFrom(nodes[i], site) at i; NaN when unknown. */
  latency: ArrayLike<number>;
  /** Node indices by ascending latency, unknown last. */
  order: ArrayLike<number>;
}

export function siteLatencies(nodes: readonly NodeView[], site: string): { latency: Float64Array; order: Uint32Array } {
  const latency = Float64Array.from(nodes, (n) => latencyFrom(n, site) ?? Number.NaN);
  const key = (i: number): number => (Number.isNaN(latency[i]!) ? Number.POSITIVE_INFINITY : latency[i]!);
  const order = Uint32Array.from(nodes, (_, i) => i).sort((a, b) => key(a) - key(b) || a - b);
  return { latency, order };
}

function decided(req: ClaimRequest, best: Candidate): PlacementDecision {
  const lat = latencyFrom(best.node, req.site);
  return {
    ok: true,
    node: best.node.name,
    site: best.node.site,
    deviceUUID: best.device.uuid,
    endpoint: best.node.endpoint,
    ...(lat !== undefined ? { latencyMs: lat } : {}),
    memoryBytes: req.memoryBytes,
    computePercent: req.computePercent,
  };
}

/**
 * Place one claim on the given nodes (which are not modified). With `site` (the claim site's
 * latencies over these nodes, precomputed by the caller) the nodes are visited nearest first and
 * the visit stops at the first node beyond maxLatencyMs, or, for `nearest`, beyond the best
 * latency found: the same decision as visiting every node, which is still done to explain a claim
 * that fits nowhere.
 */
export function placeClaim(req: ClaimRequest, nodes: readonly NodeView[], site?: SiteLatencies): PlacementDecision {
  if (site && req.site !== undefined && !(req.siteMode === 'Preferred' && req.sites.length > 0)) {
    const best = nearestFirst(req, nodes, site);
    if (best) return decided(req, best);
  }
  return placeByScan(req, nodes, req.site !== undefined ? site?.latency : undefined);
}

/** The best candidate, visiting nodes by latency (no preferred sites: every candidate is tier 0). */
function nearestFirst(req: ClaimRequest, nodes: readonly NodeView[], site: SiteLatencies): Candidate | undefined {
  const required = req.sites.length > 0 ? new Set(req.sites) : undefined;
  const models = req.models.length > 0 ? new Set(req.models) : undefined;
  const minCC = req.minComputeCapability !== undefined ? parseCC(req.minComputeCapability) : undefined;
  const maxLat = req.maxLatencyMs ?? Number.POSITIVE_INFINITY;
  const nearest = req.policy === 'nearest';
  let best: Candidate | undefined;
  for (let k = 0; k < site.order.length; k++) {
    const i = site.order[k]!;
    const l = site.latency[i]!;
    const lat = Number.isNaN(l) ? Number.POSITIVE_INFINITY : l;
    // Sorted: every node after this one is as far or farther.
    if (lat > maxLat) break;
    if (nearest && best !== undefined && lat > best.latency) break;
    const node = nodes[i]!;
    if (!node.ready || (required && !required.has(node.site))) continue;
    for (const dev of node.devices) {
      if (models && !models.has(dev.model)) continue;
      if (minCC !== undefined && parseCC(dev.computeCapability) < minCC) continue;
      if (dev.freeMemoryBytes < req.memoryBytes || dev.freeComputePercent < req.computePercent) continue;
      const freeAfter = dev.freeMemoryBytes - req.memoryBytes;
      const c: Candidate = { node, device: dev, tier: 0, latency: lat, freeAfter, usedFracAfter: dev.memoryBytes > 0 ? 1 - freeAfter / dev.memoryBytes : 1 };
      if (best === undefined || compare(req.policy, c, best) < 0) best = c;
    }
  }
  return best;
}

/** Every node, counting why candidates drop out (the failure message says which check emptied the field). */
function placeByScan(req: ClaimRequest, nodes: readonly NodeView[], latencies?: ArrayLike<number>): PlacementDecision {
  const required = req.siteMode === 'Required' && req.sites.length > 0 ? new Set(req.sites) : undefined;
  const preferred = req.siteMode === 'Preferred' && req.sites.length > 0 ? new Set(req.sites) : undefined;
  const models = req.models.length > 0 ? new Set(req.models) : undefined;
  const minCC = req.minComputeCapability !== undefined ? parseCC(req.minComputeCapability) : undefined;

  let ready = 0, inSite = 0, matching = 0, withinLatency = 0, memOk = 0;
  let largestFree = 0, mostCompute = 0;
  let best: Candidate | undefined;
  const scratch: Candidate = { node: nodes[0], device: nodes[0]?.devices[0], tier: 0, latency: 0, freeAfter: 0, usedFracAfter: 0 };
  const minCCs = minCC !== undefined ? new Map<string, number>() : undefined;
  const lats = latencies;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    if (!node.ready) continue;
    ready++;
    if (required && !required.has(node.site)) continue;
    inSite++;
    let lat: number | undefined;
    if (lats) {
      const l = lats[i]!;
      lat = Number.isNaN(l) ? undefined : l;
    } else lat = latencyFrom(node, req.site);
    for (const dev of node.devices) {
      if (models && !models.has(dev.model)) continue;
      if (minCC !== undefined && minCCs) {
        let cc = minCCs.get(dev.computeCapability);
        if (cc === undefined) minCCs.set(dev.computeCapability, (cc = parseCC(dev.computeCapability)));
        if (cc < minCC) continue;
      }
      matching++;
      if (req.maxLatencyMs !== undefined && (lat === undefined || lat > req.maxLatencyMs)) continue;
      withinLatency++;
      largestFree = Math.max(largestFree, dev.freeMemoryBytes);
      if (dev.freeMemoryBytes < req.memoryBytes) continue;
      memOk++;
      mostCompute = Math.max(mostCompute, dev.freeComputePercent);
      if (dev.freeComputePercent < req.computePercent) continue;
      // Reuse one scratch object; copy it into `best` only when it wins (no allocation per device).
      const freeAfter = dev.freeMemoryBytes - req.memoryBytes;
      scratch.node = node;
      scratch.device = dev;
      scratch.tier = preferred && !preferred.has(node.site) ? 1 : 0;
      scratch.latency = lat ?? Number.POSITIVE_INFINITY;
      scratch.freeAfter = freeAfter;
      scratch.usedFracAfter = dev.memoryBytes > 0 ? 1 - freeAfter / dev.memoryBytes : 1;
      if (best === undefined) best = { ...scratch };
      else if (compare(req.policy, scratch, best) < 0) Object.assign(best, scratch);
    }
  }
  if (best !== undefined) return decided(req, best);
  if (ready === 0) return fail('NoReadyNode', `none of ${nodes.length} GPU nodes is ready`);
  if (inSite === 0) return fail('NoNodeInSite', `no ready GPU node in site(s) ${req.sites.join(', ')}`);
  if (matching === 0) {
    const want = [models ? `model in [${req.models.join(', ')}]` : '', minCC !== undefined ? `compute capability >= ${req.minComputeCapability}` : '']
      .filter(Boolean)
      .join(' and ');
    return fail('NoMatchingGPU', `no GPU with ${want} on ${inSite} candidate node(s)`);
  }
  if (withinLatency === 0) {
    return fail('NoNodeWithinLatency', `no matching GPU within ${req.maxLatencyMs} ms of site ${req.site ?? '(none)'}`);
  }
  if (memOk === 0) {
    return fail(
      'InsufficientMemory',
      `no GPU has ${formatBytes(req.memoryBytes)} free (${withinLatency} candidate GPU(s), largest free ${formatBytes(largestFree)})`,
    );
  }
  return fail(
    'InsufficientCompute',
    `no GPU with enough memory has ${req.computePercent}% compute free (most free: ${mostCompute}%)`,
  );
}

function cloneNodes(nodes: readonly NodeView[]): NodeView[] {
  return [...nodes]
    .sort((a, b) => cmpStr(a.name, b.name))
    .map((n) => ({ ...n, devices: n.devices.map((d) => ({ ...d })).sort((a, b) => cmpStr(a.uuid, b.uuid)) }));
}

/** Order in which a batch of claims is placed: oldest first, then by key. */
export function claimOrder(a: ClaimRequest, b: ClaimRequest): number {
  return cmpStr(a.createdAt, b.createdAt) || cmpStr(a.key, b.key);
}

/**
 * Place a batch: claims in claimOrder, each seeing the capacity the previous ones consumed.
 * Returns decisions keyed by claim key. Input arrays are not modified.
 */
export function placeAll(reqs: readonly ClaimRequest[], nodes: readonly NodeView[]): Map<string, PlacementDecision> {
  const work = cloneNodes(nodes);
  const byName = new Map(work.map((n) => [n.name, n]));
  const out = new Map<string, PlacementDecision>();
  // Latencies do not change as capacity is taken: one per claim site, as the operator's node store keeps them.
  const bySite = new Map<string, SiteLatencies>();
  const lat = (site: string): SiteLatencies => bySite.get(site) ?? bySite.set(site, siteLatencies(work, site)).get(site)!;
  for (const req of [...reqs].sort(claimOrder)) {
    const d = placeClaim(req, work, req.site !== undefined ? lat(req.site) : undefined);
    if (d.ok) {
      const dev = byName.get(d.node)!.devices.find((x) => x.uuid === d.deviceUUID)!;
      dev.freeMemoryBytes -= d.memoryBytes;
      dev.freeComputePercent -= d.computePercent;
    }
    out.set(req.key, d);
  }
  return out;
}
