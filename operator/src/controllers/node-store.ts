// Parsed view of the GPUNode cache: GPUNodes parsed once per resourceVersion, and placement views
// whose free capacity comes from the allocation ledger (the claims), with readiness from heartbeats.
// Placement runs once per claim over every node, so this keeps per-claim work away from O(nodes):
// a bind changes one node's ledger and only that node's view is rebuilt (the ledger tells which),
// the array keeps its order while the set of nodes is the same, and the latency from a site to
// every node is one Float64Array per site in that order, rebuilt only when nodes or links change.
import { DRAINING_LABEL, gpuNodeSchema, type GPUNode, toIso } from '@avec/api';
import { nodeViewFrom, isHeartbeatFresh, type NodeView } from '../placement/model.js';
import { siteLatencies, type SiteLatencies } from '../placement/place.js';
import type { Informer, KubeObject } from '../kube/informer.js';
import type { AllocationLedger } from './allocation-ledger.js';

interface Entry {
  rv: string;
  node: GPUNode;
  /** Heartbeat time in ms (NaN when absent); ready while now - heartbeat <= timeout. */
  heartbeatMs: number;
  draining: boolean;
  /** Site and links as placement reads them (a change invalidates the latency columns). */
  topology: string;
  /** The placement view (undefined: rebuild it). */
  view?: NodeView;
}

export class NodeStore {
  /** Map order is the views' order: a changed node is updated in place, so positions hold. */
  private readonly parsed = new Map<string, Entry>();
  /** Nodes whose view must be rebuilt (node or ledger changed). */
  private readonly dirty = new Set<string>();
  /** The set of nodes, or a node's site/links, changed: positions and latency columns are rebuilt. */
  private layoutChanged = true;
  private viewsArray: NodeView[] | undefined;
  private positions = new Map<string, number>();
  private viewsValidUntilMs = -1;
  private latencyColumns = new Map<string, SiteLatencies & { latency: Float64Array }>();
  private syncedVersion = -1;

  constructor(private readonly informer: Informer<KubeObject>, private readonly heartbeatTimeoutMs: number, private readonly ledger: AllocationLedger) {
    ledger.subscribe((node) => this.dirty.add(node));
  }

  /** Refresh one node from the informer cache (call on every informer change). */
  refresh(name: string): void {
    const prev = this.parsed.get(name);
    const raw = this.informer.get(name);
    const rv = raw?.metadata?.resourceVersion ?? '';
    if (prev && raw && prev.rv === rv) return;
    const r = raw ? gpuNodeSchema.safeParse(raw) : undefined;
    if (!r?.success) {
      if (prev) {
        this.parsed.delete(name);
        this.layoutChanged = true;
      }
      return;
    }
    const hb = toIso(r.data.status?.heartbeatTime);
    const topology = JSON.stringify([r.data.spec.site, r.data.spec.links]);
    if (!prev || prev.topology !== topology) this.layoutChanged = true;
    this.parsed.set(name, {
      rv,
      node: r.data,
      heartbeatMs: hb === undefined ? Number.NaN : Date.parse(hb),
      draining: r.data.metadata.labels?.[DRAINING_LABEL] === 'true',
      topology,
    });
    this.dirty.add(name);
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

  /** Parse whatever changed in the informer cache since the last call. */
  private syncAll(): void {
    if (this.informer.version === this.syncedVersion) return;
    this.syncedVersion = this.informer.version;
    for (const k of this.informer.keys()) this.refresh(k);
    for (const k of [...this.parsed.keys()]) if (!this.informer.get(k)) this.refresh(k);
  }

  private isReady(e: Entry, nowMs: number): boolean {
    // A draining node (label set by its remoting server) keeps its claims but gets no new ones.
    return nowMs <= e.heartbeatMs + this.heartbeatTimeoutMs && !e.draining;
  }

  private viewOf(name: string, e: Entry, nowMs: number): NodeView {
    const ready = this.isReady(e, nowMs);
    if (!e.view) e.view = nodeViewFrom(e.node, ready, undefined, this.ledger.onNode(name));
    else if (e.view.ready !== ready) e.view = { ...e.view, ready };
    return e.view;
  }

  /**
   * Placement views of all nodes (do not modify them; a new array when anything changed). A node's
   * view is rebuilt when the node or its ledger changed; readiness when a heartbeat expired since
   * the last full pass.
   */
  views(nowMs: number): NodeView[] {
    this.syncAll();
    for (const name of this.dirty) {
      const e = this.parsed.get(name);
      if (e) e.view = undefined;
    }
    if (!this.viewsArray || this.layoutChanged || nowMs >= this.viewsValidUntilMs) {
      // Full pass: positions, readiness of every node, when the next heartbeat expires.
      if (this.layoutChanged) this.latencyColumns = new Map();
      this.layoutChanged = false;
      const out: NodeView[] = [];
      const positions = new Map<string, number>();
      let validUntil = Number.POSITIVE_INFINITY;
      for (const [name, e] of this.parsed) {
        const expires = e.heartbeatMs + this.heartbeatTimeoutMs;
        if (nowMs <= expires) validUntil = Math.min(validUntil, expires + 1);
        positions.set(name, out.length);
        out.push(this.viewOf(name, e, nowMs));
      }
      this.dirty.clear();
      this.positions = positions;
      this.viewsArray = out;
      this.viewsValidUntilMs = validUntil;
      return out;
    }
    if (this.dirty.size === 0) return this.viewsArray;
    // Only the changed nodes, in place in a copy (callers may still hold the previous array).
    const out = this.viewsArray.slice();
    for (const name of this.dirty) {
      const i = this.positions.get(name);
      const e = this.parsed.get(name);
      if (i === undefined || !e) continue;
      out[i] = this.viewOf(name, e, nowMs);
      const expires = e.heartbeatMs + this.heartbeatTimeoutMs;
      if (nowMs <= expires) this.viewsValidUntilMs = Math.min(this.viewsValidUntilMs, expires + 1);
    }
    this.dirty.clear();
    this.viewsArray = out;
    return out;
  }

  /**
   * Latency from `site` to each node of the last views() array, in its order (NaN: unknown), as
   * placement's latencyFrom would find it, and the nodes sorted by it. Built once per site until
   * nodes or links change.
   */
  latencies(site: string): SiteLatencies {
    let col = this.latencyColumns.get(site);
    if (col && col.latency.length === (this.viewsArray?.length ?? 0)) return col;
    col = siteLatencies(this.viewsArray ?? [], site);
    this.latencyColumns.set(site, col);
    return col;
  }

  all(): GPUNode[] {
    return [...this.parsed.values()].map((e) => e.node);
  }
}
