// Parsed view of the GPUNode cache: GPUNodes parsed once per resourceVersion, and placement views
// whose free capacity comes from the allocation ledger (the claims), with readiness from heartbeats.
// A bind changes one node's ledger, so only that node's view is rebuilt.
import { DRAINING_LABEL, gpuNodeSchema, type GPUNode, toIso } from '@avec/api';
import { nodeViewFrom, isHeartbeatFresh, type NodeView } from '../placement/model.js';
import type { Informer, KubeObject } from '../kube/informer.js';
import type { AllocationLedger } from './allocation-ledger.js';

interface Entry {
  rv: string;
  node: GPUNode;
  /** Heartbeat time in ms (NaN when absent); ready while now - heartbeat <= timeout. */
  heartbeatMs: number;
  draining: boolean;
  /** The placement view and the ledger version it was built from. */
  view?: NodeView;
  ledgerVersion: number;
}

export class NodeStore {
  private readonly parsed = new Map<string, Entry>();

  constructor(private readonly informer: Informer<KubeObject>, private readonly heartbeatTimeoutMs: number, private readonly ledger: AllocationLedger) {}

  /** Refresh one node from the informer cache (call on every informer change). */
  refresh(name: string): void {
    const prev = this.parsed.get(name);
    const raw = this.informer.get(name);
    const rv = raw?.metadata?.resourceVersion ?? '';
    if (prev && raw && prev.rv === rv) return;
    this.parsed.delete(name);
    this.viewsArray = undefined;
    if (!raw) return;
    const r = gpuNodeSchema.safeParse(raw);
    if (!r.success) return;
    const hb = toIso(r.data.status?.heartbeatTime);
    this.parsed.set(name, {
      rv,
      node: r.data,
      heartbeatMs: hb === undefined ? Number.NaN : Date.parse(hb),
      draining: r.data.metadata.labels?.[DRAINING_LABEL] === 'true',
      ledgerVersion: -1,
    });
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

  private syncedVersion = -1;
  private viewsArray: NodeView[] | undefined;
  private viewsValidUntilMs = -1;

  /** Parse whatever changed in the informer cache since the last call. */
  private syncAll(): void {
    if (this.informer.version === this.syncedVersion) return;
    this.syncedVersion = this.informer.version;
    for (const k of this.informer.keys()) this.refresh(k);
    for (const k of [...this.parsed.keys()]) if (!this.informer.get(k)) this.refresh(k);
  }

  /**
   * Placement views of all nodes (do not modify them). A node's view is rebuilt when the node or
   * its ledger changed; readiness when a heartbeat expired since the last call.
   */
  views(nowMs: number): NodeView[] {
    this.syncAll();
    if (nowMs >= this.viewsValidUntilMs) this.viewsArray = undefined;
    let changed = false;
    for (const [name, e] of this.parsed) {
      const lv = this.ledger.version(name);
      if (e.view && e.ledgerVersion === lv && this.viewsArray) continue;
      if (!e.view || e.ledgerVersion !== lv) {
        e.view = nodeViewFrom(e.node, true, undefined, this.ledger.onNode(name));
        e.ledgerVersion = lv;
        changed = true;
      }
    }
    if (this.viewsArray && !changed) return this.viewsArray;
    const out: NodeView[] = [];
    let validUntil = Number.POSITIVE_INFINITY;
    for (const e of this.parsed.values()) {
      const expires = e.heartbeatMs + this.heartbeatTimeoutMs;
      const fresh = nowMs <= expires;
      if (fresh) validUntil = Math.min(validUntil, expires + 1);
      // A draining node (label set by its remoting server) keeps its claims but gets no new ones.
      const ready = fresh && !e.draining;
      out.push(e.view!.ready === ready ? e.view! : (e.view = { ...e.view!, ready }));
    }
    this.viewsArray = out;
    this.viewsValidUntilMs = validUntil;
    return out;
  }

  all(): GPUNode[] {
    return [...this.parsed.values()].map((e) => e.node);
  }
}
