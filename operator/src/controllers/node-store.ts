// Parsed view of the GPUNode cache: GPUNodes parsed once per resourceVersion, an index from claim
// UID to the node that records its allocation, and placement views with readiness from heartbeats.
import { DRAINING_LABEL, gpuNodeSchema, type GPUAllocation, type GPUNode, toIso } from '@avec/api';
import { nodeViewFrom, isHeartbeatFresh, type NodeView } from '../placement/model.js';
import type { Informer, KubeObject } from '../kube/informer.js';

interface Entry {
  rv: string;
  node: GPUNode;
  view: NodeView;
  /** Heartbeat time in ms (NaN when absent); ready while now - heartbeat <= timeout. */
  heartbeatMs: number;
  draining: boolean;
}

export class NodeStore {
  private readonly parsed = new Map<string, Entry>();
  private readonly byClaim = new Map<string, Set<string>>();

  constructor(private readonly informer: Informer<KubeObject>, private readonly heartbeatTimeoutMs: number) {}

  /** Refresh one node from the informer cache (call on every informer change). */
  refresh(name: string): void {
    const prev = this.parsed.get(name);
    const raw = this.informer.get(name);
    const rv = raw?.metadata?.resourceVersion ?? '';
    if (prev && raw && prev.rv === rv) return;
    if (prev) for (const a of prev.node.status?.allocations ?? []) this.unindex(a.claimUID, name);
    this.parsed.delete(name);
    if (!raw) return;
    const r = gpuNodeSchema.safeParse(raw);
    if (!r.success) return;
    const hb = toIso(r.data.status?.heartbeatTime);
    this.parsed.set(name, {
      rv,
      node: r.data,
      view: nodeViewFrom(r.data, true),
      heartbeatMs: hb === undefined ? Number.NaN : Date.parse(hb),
      draining: r.data.metadata.labels?.[DRAINING_LABEL] === 'true',
    });
    for (const a of r.data.status?.allocations ?? []) {
      let s = this.byClaim.get(a.claimUID);
      if (!s) this.byClaim.set(a.claimUID, (s = new Set()));
      s.add(name);
    }
  }

  private unindex(uid: string, name: string): void {
    const s = this.byClaim.get(uid);
    if (!s) return;
    s.delete(name);
    if (s.size === 0) this.byClaim.delete(uid);
  }

  get(name: string): GPUNode | undefined {
    this.refresh(name);
    return this.parsed.get(name)?.node;
  }

  raw(name: string): KubeObject | undefined {
    return this.informer.get(name);
  }

  names(): string[] {
    return this.informer.keys();
  }

  ready(node: GPUNode, nowMs: number): boolean {
    return isHeartbeatFresh(node, nowMs, this.heartbeatTimeoutMs);
  }

  /** Nodes that record an allocation for this claim UID. */
  allocationsOf(uid: string): Array<{ node: GPUNode; alloc: GPUAllocation }> {
    const out: Array<{ node: GPUNode; alloc: GPUAllocation }> = [];
    for (const name of [...(this.byClaim.get(uid) ?? [])].sort()) {
      const n = this.get(name);
      const a = n?.status?.allocations.find((x) => x.claimUID === uid);
      if (n && a) out.push({ node: n, alloc: a });
    }
    return out;
  }

  private syncedVersion = -1;
  private cachedViews: NodeView[] = [];
  private viewsVersion = -1;
  private viewsValidUntilMs = -1;

  /** Parse whatever changed in the informer cache since the last call. */
  private syncAll(): void {
    if (this.informer.version === this.syncedVersion) return;
    this.syncedVersion = this.informer.version;
    for (const k of this.informer.keys()) this.refresh(k);
    for (const k of [...this.parsed.keys()]) if (!this.informer.get(k)) this.refresh(k);
  }

  /**
   * Placement views of all nodes (do not modify them). Cached: rebuilt only when a GPUNode changed
   * or a heartbeat expired since the last call.
   */
  views(nowMs: number): NodeView[] {
    this.syncAll();
    if (this.viewsVersion === this.syncedVersion && nowMs < this.viewsValidUntilMs) return this.cachedViews;
    const out: NodeView[] = [];
    let validUntil = Number.POSITIVE_INFINITY;
    for (const e of this.parsed.values()) {
      const expires = e.heartbeatMs + this.heartbeatTimeoutMs;
      const fresh = nowMs <= expires;
      if (fresh) validUntil = Math.min(validUntil, expires + 1);
      // A draining node (label set by its remoting server) keeps its claims but gets no new ones.
      out.push({ ...e.view, ready: fresh && !e.draining });
    }
    this.cachedViews = out;
    this.viewsVersion = this.syncedVersion;
    this.viewsValidUntilMs = validUntil;
    return out;
  }

  all(): GPUNode[] {
    return [...this.parsed.values()].map((e) => e.node);
  }
}
