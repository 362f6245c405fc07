// Pure rendering of this node's GPUNode (crds/gpunodes.yaml) from what was observed:
// render(observed) -> desired. The remoting server owns `spec` and status.heartbeatTime/capacity;
// the operator owns status.conditions and status.allocations, so nothing here ever writes those.
import { API_VERSION, DRAINING_LABEL, GPUNODE_KIND, SITE_LABEL, ZONE_LABEL, type GPUNodeSpec } from '@avec/api';
import type { SiteLink } from '../links/links.js';
import type { ObservedInventory } from './observed.js';

/** The spec this server owns, as @avec/api defines it (the operator parses it with the same schema). */
export type { GPUNodeSpec };

export interface GPUNodeObject {
  apiVersion: string;
  kind: typeof GPUNODE_KIND;
  metadata: { name: string; labels: Record<string, string> };
  spec: GPUNodeSpec;
}

export interface RenderInput {
  nodeName: string;
  site: string;
  endpoint: string;
  inventory: ObservedInventory;
  links: SiteLink[];
  backend: string;
  /** Set once the server stops admitting sessions (gRPC Drain, shutdown): placement should skip it. */
  draining?: boolean;
}

/** Site precedence: explicit config, then the Node's avec.dev/site label, then its zone label, then the default. */
export function siteOf(override: string | undefined, nodeLabels: Record<string, string> | undefined, fallback = ''): string {
  if (override) return override;
  return nodeLabels?.[SITE_LABEL] || nodeLabels?.[ZONE_LABEL] || fallback;
}

export function renderGPUNodeSpec(input: RenderInput): GPUNodeSpec {
  return {
    nodeName: input.nodeName,
    site: input.site,
    endpoint: input.endpoint,
    devices: [...input.inventory.devices]
      .sort((a, b) => a.ordinal - b.ordinal)
      .map((d) => ({ uuid: d.uuid, model: d.model, memoryBytes: d.memoryBytes, computeCapability: d.computeCapability })),
    links: [...input.links].sort((a, b) => a.site.localeCompare(b.site)),
  };
}

export function renderGPUNode(input: RenderInput): GPUNodeObject {
  return {
    apiVersion: API_VERSION,
    kind: GPUNODE_KIND,
    metadata: {
      name: input.nodeName,
      labels: {
        'app.kubernetes.io/part-of': 'avec',
        'app.kubernetes.io/managed-by': 'avec-remoting-server',
        'avec.dev/backend': input.inventory.backend,
        ...(LABEL_VALUE.test(input.site) && { [SITE_LABEL]: input.site }),
        ...(input.draining && { [DRAINING_LABEL]: 'true' }),
      },
    },
    spec: renderGPUNodeSpec(input),
  };
}

/** The status merge patch of one heartbeat: only the fields this server owns. */
export function renderHeartbeat(inventory: ObservedInventory, now: Date): { status: { heartbeatTime: string; capacity: { memoryBytes: number; devices: number } } } {
  return {
    status: {
      // RFC 3339 without fractions: what the API server's date-time format and Go clients expect.
      heartbeatTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      capacity: {
        memoryBytes: inventory.devices.reduce((s, d) => s + d.memoryBytes, 0),
        devices: inventory.devices.length,
      },
    },
  };
}

const LABEL_VALUE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const RTT_ABS_MS = 1;
const RTT_REL = 0.2;

/**
 * Whether the published spec must be rewritten. Links count only when an RTT moved by more than
 * max(1 ms, 20 %) or a link appeared, vanished or changed source: every spec write bumps the
 * generation and makes the operator reconcile, so measurement noise must not.
 */
export function specNeedsUpdate(current: Partial<GPUNodeSpec> | undefined, desired: GPUNodeSpec): boolean {
  if (!current) return true;
  return specDiffers(current, desired);
}

/** Labels this server owns on its GPUNode: set when wanted, removed (merge patch null) when not. */
const OWNED_LABELS = [SITE_LABEL, DRAINING_LABEL, 'avec.dev/backend', 'app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by'];

/**
 * The metadata.labels merge patch that brings `current` to `desired` (owned labels only; other
 * labels are left alone), or undefined when nothing differs.
 */
export function labelPatch(current: Record<string, string> | undefined, desired: Record<string, string>): Record<string, string | null> | undefined {
  const patch: Record<string, string | null> = {};
  for (const k of OWNED_LABELS) {
    const want = desired[k];
    if (want !== undefined && current?.[k] !== want) patch[k] = want;
    if (want === undefined && current?.[k] !== undefined) patch[k] = null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

function specDiffers(current: Partial<GPUNodeSpec>, desired: GPUNodeSpec): boolean {
  if (current.nodeName !== desired.nodeName || (current.site ?? '') !== desired.site || current.endpoint !== desired.endpoint) return true;
  const strip = (d: GPUNodeSpec['devices']) => JSON.stringify((d ?? []).map((x) => [x.uuid, x.model, x.memoryBytes, x.computeCapability]));
  if (strip(current.devices ?? []) !== strip(desired.devices)) return true;
  const cur = new Map((current.links ?? []).map((l) => [l.site, l]));
  if (cur.size !== desired.links.length) return true;
  for (const l of desired.links) {
    const c = cur.get(l.site);
    if (!c || (c.source ?? 'declared') !== l.source || c.bandwidthMbps !== l.bandwidthMbps) return true;
    const delta = Math.abs(c.rttMs - l.rttMs);
    if (delta > RTT_ABS_MS && delta > RTT_REL * Math.max(c.rttMs, l.rttMs)) return true;
  }
  return false;
}
