// Writes of GPUNode.status.allocations for the claim controller. Writes to one node are serialised
// within this process and use the freshest cached copy (our own writes go into the cache at once),
// so workers never conflict with each other; every write carries the node's resourceVersion, so
// another operator's concurrent write makes ours fail (409) instead of overcommitting.
import { GROUP, VERSION, type GPUNode, type GPUNodeStatus, type GPUAllocation } from '@avec/api';
import { withAllocation, withoutAllocation } from './allocation.js';
import type { KubeObject } from '../kube/informer.js';
import { KeyLock } from '../kube/key-lock.js';
import { replaceStatus } from '../kube/status-writer.js';
import type { OperatorContext } from './context.js';

interface PendingCommit {
  alloc: GPUAllocation;
  resolve: (r: 'ok' | string) => void;
  reject: (err: unknown) => void;
}

export class AllocationWriter {
  private readonly nodeLock = new KeyLock();
  private readonly pendingCommits = new Map<string, PendingCommit[]>();

  constructor(private readonly ctx: OperatorContext) {}

  /**
   * Record an allocation ('ok') or say why it no longer fits. Claims that arrive while a write to the same node is in flight are committed together in one write
   * (binpack sends many claims to the same node at once).
   */
  commit(stale: GPUNode, alloc: GPUAllocation): Promise<'ok' | string> {
    const name = stale.metadata.name;
    return new Promise((resolve, reject) => {
      let batch = this.pendingCommits.get(name);
      if (batch) return void batch.push({ alloc, resolve, reject });
      this.pendingCommits.set(name, (batch = [{ alloc, resolve, reject }]));
      void this.nodeLock.run(name, () => this.commitBatch(name));
    });
  }

  private async commitBatch(name: string): Promise<void> {
    const batch = this.pendingCommits.get(name) ?? [];
    this.pendingCommits.delete(name);
    let node = this.ctx.nodes.get(name);
    const written: PendingCommit[] = [];
    for (const p of batch) {
      if (!node) {
        p.resolve('NodeGone');
        continue;
      }
      const res = withAllocation(node, p.alloc);
      if (!res.ok) p.resolve(res.reason);
      else if (!res.changed) p.resolve('ok');
      else {
        node = { ...node, status: res.status };
        written.push(p);
      }
    }
    if (!node || written.length === 0) return;
    try {
      await this.putNodeStatus(node, node.status!);
      for (const p of written) p.resolve('ok');
    } catch (err) {
      for (const p of written) p.reject(err);
    }
  }

  async release(stale: GPUNode, uid: string, key: string): Promise<void> {
    await this.nodeLock.run(stale.metadata.name, async () => {
      const node = this.ctx.nodes.get(stale.metadata.name);
      const status = node && withoutAllocation(node, uid);
      if (!node || !status) return;
      await this.putNodeStatus(node, status);
      this.ctx.log.info('allocation released', { node: node.metadata.name, claim: key });
    });
  }

  private async putNodeStatus(node: GPUNode, status: GPUNodeStatus): Promise<void> {
    const raw = (this.ctx.nodes.raw(node.metadata.name) ?? { metadata: { name: node.metadata.name } }) as KubeObject & Record<string, unknown>;
    const merged = { ...((raw.status as object) ?? {}), allocations: status.allocations, allocatedMemoryBytes: status.allocatedMemoryBytes, memory: status.memory };
    await replaceStatus(this.ctx.api.gpuNodes, this.ctx.gpuNodes, { name: node.metadata.name, raw: { ...raw, apiVersion: `${GROUP}/${VERSION}`, kind: 'GPUNode' } }, merged, node.metadata.resourceVersion);
    this.ctx.nodes.refresh(node.metadata.name);
  }
}
