// VirtualGPUClaim reconcile. The GPUNode's status.allocations is the source of truth for what is
// allocated; a claim is Bound when its allocation is recorded there, its Secret is written and its
// status says so. Protocol (safe with two operators racing):
//   1. reserve: write the placement into the claim's status (claim resourceVersion precondition),
//   2. commit: add the allocation to the GPUNode status (node resourceVersion precondition,
//      re-checking capacity on the freshest copy),
//   3. write the Secret (endpoint + ticket), 4. status Bound.
// A crash between steps leaves a state the next reconcile completes or rolls back.
import { claimSchema, type VirtualGPUClaim, type ClaimAllocation, GROUP, VERSION, CLAIM_KIND } from '../api/claim.js';
import type { GPUNode, GPUNodeStatus, GPUAllocation } from '../api/gpunode.js';
import { claimRequestFrom, nodeViewFrom } from '../placement/model.js';
import { placeClaim, latencyFrom } from '../placement/place.js';
import { renderClaimStatus, claimEvents, sameStatus, type ClaimOutcome } from './claim-status.js';
import { withAllocation, withoutAllocation } from './allocation.js';
import { ticketNeedsRefresh, refreshInSeconds, renderClaimSecret } from './claim-secret.js';
import { signTicket, peekTicket } from '../tickets/ticket.js';
import { claimPath, gpuNodePath, secretPath, secretsPath, splitKey } from '../kube/paths.js';
import { isStatus, MERGE_PATCH } from '../kube/client.js';
import type { KubeObject } from '../kube/informer.js';
import { KeyLock } from '../kube/key-lock.js';
import { replaceStatus } from '../kube/status-writer.js';
import type { ReconcileResult } from '../kube/controller-loop.js';
import { secretNameFor } from '../admission/inject.js';
import { FINALIZER, type OperatorContext } from './context.js';
import { errorMessage } from '../util/errors.js';

type RawClaim = KubeObject & Record<string, unknown> & { metadata: Record<string, unknown>; status?: unknown };

interface SecretMemo {
  endpoint: string;
  ticket: string;
  /** When the Secret was last read or written; older memos are re-read (someone may have edited it). */
  atMs: number;
}

const SECRET_MEMO_MS = 10 * 60_000;

interface PendingCommit {
  alloc: GPUAllocation;
  resolve: (r: 'ok' | string) => void;
  reject: (err: unknown) => void;
}

export class ClaimController {
  private readonly secretMemo = new Map<string, SecretMemo>();
  private readonly nodeLock = new KeyLock();
  private readonly pendingCommits = new Map<string, PendingCommit[]>();

  constructor(private readonly ctx: OperatorContext) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const raw = this.ctx.claims.get(key) as RawClaim | undefined;
    if (!raw) {
      this.secretMemo.delete(key);
      return {};
    }
    const [ns, name] = splitKey(key);
    const log = this.ctx.log.child({ namespace: ns, name, kind: CLAIM_KIND });
    const parsed = claimSchema.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return this.writeStatus(raw, undefined, { kind: 'invalid', message: `spec.${i?.path.join('.')}: ${i?.message}` });
    }
    let claim = parsed.data;
    if (claim.metadata.deletionTimestamp !== undefined) return this.finalize(raw, claim);
    if (!(claim.metadata.finalizers ?? []).includes(FINALIZER)) {
      const updated = await this.ctx.api.request<RawClaim>('PATCH', claimPath(ns, name), {
        metadata: { finalizers: [...(claim.metadata.finalizers ?? []), FINALIZER], resourceVersion: claim.metadata.resourceVersion },
      }, MERGE_PATCH);
      this.ctx.claims.upsertLocal(updated);
      return this.reconcile(key);
    }
    let req;
    try {
      req = claimRequestFrom(claim);
    } catch (err) {
      return this.writeStatus(raw, claim, { kind: 'invalid', message: `spec.memory: ${errorMessage(err)}` });
    }
    const now = this.ctx.clock.now();
    const uid = claim.metadata.uid;

    // Where is it recorded? Keep one record (the one the status names), release any others.
    let records = this.ctx.nodes.allocationsOf(uid);
    if (records.length > 1) {
      const keep = records.find((r) => r.node.metadata.name === claim.status?.allocation?.node) ?? records[0];
      for (const r of records) if (r !== keep) await this.release(r.node, uid, key);
      records = [keep];
    }
    const rec = records[0];
    if (rec) {
      const node = rec.node;
      if (!this.ctx.nodes.ready(node, now)) {
        await this.release(node, uid, key);
        log.warn('GPU node lost; releasing and placing again', { node: node.metadata.name });
        await this.writeStatus(raw, claim, { kind: 'lost', reason: 'NodeLost', message: `GPU node ${node.metadata.name} stopped heart-beating` });
        return { requeueAfterMs: 0 };
      }
      if (!node.spec.devices.some((d) => d.uuid === rec.alloc.deviceUUID)) {
        await this.release(node, uid, key);
        await this.writeStatus(raw, claim, { kind: 'lost', reason: 'DeviceGone', message: `device ${rec.alloc.deviceUUID} is no longer reported by ${node.metadata.name}` });
        return { requeueAfterMs: 0 };
      }
      const alloc: ClaimAllocation = {
        node: node.metadata.name,
        site: node.spec.site || undefined,
        deviceUUID: rec.alloc.deviceUUID,
        endpoint: node.spec.endpoint,
        memoryBytes: rec.alloc.memoryBytes,
        computePercent: rec.alloc.computePercent,
        latencyMs: latencyFrom(nodeViewFrom(node, true), req.site),
        boundTime: claim.status?.allocation?.boundTime,
      };
      if (rec.alloc.memoryBytes !== req.memoryBytes || rec.alloc.computePercent !== req.computePercent) {
        // The spec changed while not Bound (CEL forbids it while Bound): record the new size if it fits.
        const r = await this.commit(node, { claimUID: uid, claim: key, memoryBytes: req.memoryBytes, computePercent: req.computePercent, deviceUUID: rec.alloc.deviceUUID });
        if (r !== 'ok') {
          await this.release(node, uid, key);
          return { requeueAfterMs: 0 };
        }
        alloc.memoryBytes = req.memoryBytes;
        alloc.computePercent = req.computePercent;
      }
      return this.bindFinish(raw, claim, alloc);
    }

    // Reserved (or previously bound) in the claim status but not recorded on a node: commit it there.
    const reserved = claim.status?.allocation;
    if (reserved) {
      const node = this.ctx.nodes.get(reserved.node);
      const r = node && this.ctx.nodes.ready(node, now)
        ? await this.commit(node, { claimUID: uid, claim: key, memoryBytes: req.memoryBytes, computePercent: req.computePercent, deviceUUID: reserved.deviceUUID })
        : 'gone';
      if (r === 'ok') return this.bindFinish(raw, claim, { ...reserved, endpoint: node!.spec.endpoint, memoryBytes: req.memoryBytes, computePercent: req.computePercent });
      const lost = claim.status?.phase === 'Bound';
      await this.writeStatus(raw, claim, lost
        ? { kind: 'lost', reason: 'NodeLost', message: `GPU node ${reserved.node} is gone or not ready` }
        : { kind: 'unplaced', reason: 'Rescheduling', message: `reservation on ${reserved.node} no longer fits (${r}); placing again` });
      return { requeueAfterMs: 0 };
    }

    // Place.
    const views = this.ctx.nodes.views(now);
    const t0 = process.hrtime.bigint();
    const decision = placeClaim(req, views);
    this.ctx.metrics.placementSeconds.observe({ policy: req.policy }, Number(process.hrtime.bigint() - t0) / 1e9);
    if (!decision.ok) {
      await this.writeStatus(raw, claim, { kind: 'unplaced', reason: decision.reason, message: decision.message });
      return { requeueAfterMs: this.ctx.retryUnplacedMs };
    }
    const allocation: ClaimAllocation = {
      node: decision.node,
      site: decision.site || undefined,
      deviceUUID: decision.deviceUUID,
      endpoint: decision.endpoint,
      memoryBytes: decision.memoryBytes,
      computePercent: decision.computePercent,
      latencyMs: decision.latencyMs,
    };
    const written = await this.writeStatusRaw(raw, claim, { kind: 'reserved', allocation });
    claim = written ?? claim;
    const node = this.ctx.nodes.get(decision.node)!;
    const r = await this.commit(node, { claimUID: uid, claim: key, memoryBytes: req.memoryBytes, computePercent: req.computePercent, deviceUUID: decision.deviceUUID });
    if (r === 'ok') return this.bindFinish(this.ctx.claims.get(key) as RawClaim, claim, allocation);
    return { requeueAfterMs: 0 }; // the next round sees the reservation and retries or re-places
  }

  /** Step 2: record the allocation on the node (optimistic concurrency). */
  // Node writes are serialised per node within this process and use the freshest cached copy
  // (our own writes go into the cache at once), so workers do not conflict with each other; claims
  // that arrive while a write to the same node is in flight are committed together in one write
  // (binpack sends many claims to the same node at once).
  private commit(stale: GPUNode, alloc: GPUAllocation): Promise<'ok' | string> {
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

  private async release(stale: GPUNode, uid: string, key: string): Promise<void> {
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
    const merged = { ...((raw.status as object) ?? {}), allocations: status.allocations, allocatedMemoryBytes: status.allocatedMemoryBytes };
    await replaceStatus(this.ctx.api, this.ctx.gpuNodes, { path: gpuNodePath(node.metadata.name), raw: { ...raw, apiVersion: `${GROUP}/${VERSION}`, kind: 'GPUNode' } }, merged, node.metadata.resourceVersion);
    this.ctx.nodes.refresh(node.metadata.name);
  }

  /** Steps 3 and 4. */
  private async bindFinish(raw: RawClaim, claim: VirtualGPUClaim, alloc: ClaimAllocation): Promise<ReconcileResult> {
    const ns = claim.metadata.namespace ?? '';
    const name = claim.metadata.name;
    const nowS = Math.floor(this.ctx.clock.now() / 1000);
    const ring = this.ctx.keyring();
    const want = { uid: claim.metadata.uid, ns, claim: name, node: alloc.node, dev: alloc.deviceUUID, mem: alloc.memoryBytes, cpct: alloc.computePercent };
    const key = `${ns}/${name}`;
    let memo = this.secretMemo.get(key);
    if (memo && this.ctx.clock.now() - memo.atMs > SECRET_MEMO_MS) memo = undefined;
    // A claim that never had a Secret gets a create without a read first (saves a round trip per bind).
    const neverHadSecret = claim.status?.secretName === undefined;
    if (!memo && !neverHadSecret) {
      try {
        const s = await this.ctx.api.request<{ data?: Record<string, string> }>('GET', secretPath(ns, secretNameFor(name)));
        const d = (k: string): string => Buffer.from(s.data?.[k] ?? '', 'base64').toString('utf8');
        memo = { endpoint: d('endpoint'), ticket: d('ticket'), atMs: this.ctx.clock.now() };
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
    }
    let ticket = memo?.ticket ?? '';
    let current = peekTicket(ticket);
    if (!memo || memo.endpoint !== alloc.endpoint || ticketNeedsRefresh(current, want, ring.currentKid, nowS, this.ctx.ticketTtlSeconds)) {
      if (!current || ticketNeedsRefresh(current, want, ring.currentKid, nowS, this.ctx.ticketTtlSeconds)) {
        ticket = signTicket(ring, { ...want, iat: nowS, exp: nowS + this.ctx.ticketTtlSeconds });
        current = peekTicket(ticket);
      }
      const secret = renderClaimSecret({ name, namespace: ns, uid: claim.metadata.uid }, alloc.endpoint, ticket);
      if (memo && memo.ticket !== '') await this.ctx.api.request('PUT', secretPath(ns, secret.metadata.name), secret);
      else {
        try {
          await this.ctx.api.request('POST', secretsPath(ns), secret);
        } catch (err) {
          if (!isStatus(err, 409)) throw err;
          await this.ctx.api.request('PUT', secretPath(ns, secret.metadata.name), secret);
        }
      }
      this.ctx.log.info('claim secret written', { namespace: ns, name, secret: secret.metadata.name, node: alloc.node, kid: current?.kid });
      memo = { endpoint: alloc.endpoint, ticket, atMs: this.ctx.clock.now() };
      this.secretMemo.set(key, memo);
    }
    const wasBound = claim.status?.phase === 'Bound';
    await this.writeStatus(raw, claim, { kind: 'bound', allocation: alloc, secretName: secretNameFor(name) });
    if (!wasBound) {
      const created = Date.parse(String(claim.metadata.creationTimestamp ?? ''));
      if (Number.isFinite(created)) this.ctx.metrics.bindLatencySeconds.observe(Math.max(0, this.ctx.clock.now() - created) / 1000);
    }
    return { requeueAfterMs: refreshInSeconds(current!, nowS, this.ctx.ticketTtlSeconds) * 1000 };
  }

  private async finalize(raw: RawClaim, claim: VirtualGPUClaim): Promise<ReconcileResult> {
    const key = `${claim.metadata.namespace}/${claim.metadata.name}`;
    for (const r of this.ctx.nodes.allocationsOf(claim.metadata.uid)) await this.release(r.node, claim.metadata.uid, key);
    const fins = claim.metadata.finalizers ?? [];
    if (fins.includes(FINALIZER)) {
      await this.ctx.api.request('PATCH', claimPath(claim.metadata.namespace ?? '', claim.metadata.name), {
        metadata: { finalizers: fins.filter((f) => f !== FINALIZER), resourceVersion: claim.metadata.resourceVersion },
      }, MERGE_PATCH);
      this.ctx.log.info('claim released', { namespace: claim.metadata.namespace, name: claim.metadata.name });
    }
    this.secretMemo.delete(key);
    return {};
  }

  private async writeStatus(raw: RawClaim, claim: VirtualGPUClaim | undefined, out: ClaimOutcome): Promise<ReconcileResult> {
    await this.writeStatusRaw(raw, claim, out);
    return {};
  }

  /** Render, write if changed (claim resourceVersion precondition), emit Events for transitions. */
  private async writeStatusRaw(raw: RawClaim, claim: VirtualGPUClaim | undefined, out: ClaimOutcome): Promise<VirtualGPUClaim | undefined> {
    const prev = claim?.status;
    const gen = typeof raw.metadata.generation === 'number' ? raw.metadata.generation : undefined;
    const next = renderClaimStatus(prev, out, gen, new Date(this.ctx.clock.now()).toISOString());
    if (sameStatus(prev, next)) return claim;
    const ns = String(raw.metadata.namespace ?? '');
    const name = String(raw.metadata.name ?? '');
    const updated = await replaceStatus<RawClaim>(this.ctx.api, this.ctx.claims, { path: claimPath(ns, name), raw }, next);
    const involved = { apiVersion: `${GROUP}/${VERSION}`, kind: CLAIM_KIND, name, namespace: ns, uid: String(raw.metadata.uid ?? ''), resourceVersion: updated.metadata?.resourceVersion };
    for (const e of claimEvents(prev, next)) this.ctx.events.emitAsync(involved, e.type, e.reason, e.message);
    const p = claimSchema.safeParse(updated);
    return p.success ? p.data : undefined;
  }
}
