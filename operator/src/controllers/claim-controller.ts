// VirtualGPUClaim reconcile. The claim's status.allocation is the source of truth for what it holds;
// binding is: place (pure, on the ledger's views; the bind is "assumed" at once so concurrent workers
// never hand out the same capacity), write the Secret (endpoint + ticket), then one status write with
// the allocation (resourceVersion precondition). Two writes per bind; no finalizer, no Event on
// success. GPUNode.status.allocations is a summary of the ledger, written in batches by the GPUNode
// controller. A crash between the Secret and the status leaves a Secret for a placement that never
// happened: the next reconcile places again and rewrites it (no pod runs before Bound).
import { CLAIM_KIND, FINALIZER, GROUP, VERSION, claimSchema, secretNameFor, type ClaimAllocation, type VirtualGPUClaim } from '@avec/api';
import { claimRequestFrom, type ClaimRequest } from '../placement/model.js';
import { planBind, type BindAction } from './claim-plan.js';
import { renderClaimStatus, claimEvents, sameStatus, type ClaimOutcome } from './claim-status.js';
import { overcommittedClaims } from './allocation.js';
import { ClaimSecretWriter } from './claim-secret-writer.js';
import { PatchStrategy, statusOf } from '@avec/kube';
import type { KubeObject } from '../kube/informer.js';
import { replaceStatus } from '../kube/status-writer.js';
import type { ReconcileResult } from '../kube/controller-loop.js';
import { type OperatorContext } from './context.js';
import { errorMessage } from '@avec/common';

/** How long a bind whose status write failed without an answer keeps holding its capacity. */
export const ASSUMED_BIND_TTL_MS = 30_000;

type RawClaim = KubeObject & Record<string, unknown> & { metadata: Record<string, unknown>; status?: unknown };

export class ClaimController {
  private readonly secrets: ClaimSecretWriter;

  constructor(private readonly ctx: OperatorContext) {
    this.secrets = new ClaimSecretWriter(ctx);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const raw = this.ctx.claims.get(key) as RawClaim | undefined;
    this.ctx.ledger.observe(key, raw);
    if (!raw) {
      this.secrets.forget(key);
      return {};
    }
    const parsed = claimSchema.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return this.writeStatus(raw, undefined, { kind: 'invalid', message: `spec.${i?.path.join('.')}: ${i?.message}` });
    }
    const claim = parsed.data;
    if (claim.metadata.deletionTimestamp !== undefined) return this.finalize(claim);
    let req;
    try {
      req = claimRequestFrom(claim);
    } catch (err) {
      return this.writeStatus(raw, claim, { kind: 'invalid', message: `spec.memory: ${errorMessage(err)}` });
    }
    const now = this.ctx.clock.now();
    const alloc = claim.status?.phase === 'Bound' ? claim.status.allocation : undefined;
    const boundNode = alloc && this.ctx.nodes.get(alloc.node);
    const t0 = process.hrtime.bigint();
    const action = planBind({
      claim,
      request: req,
      bound: alloc && {
        node: boundNode,
        ready: boundNode !== undefined && this.ctx.nodes.ready(boundNode, now),
        allocation: alloc,
        overcommitted: boundNode !== undefined && overcommittedClaims(boundNode, this.ctx.ledger.onNode(alloc.node)).has(key),
      },
      views: () => this.ctx.nodes.views(now),
      latencies: (site) => this.ctx.nodes.latencies(site),
      lostClaims: () => this.lostRequests(key),
    });
    if (action.kind === 'bind' || action.kind === 'unplaced') {
      this.ctx.metrics.placementSeconds.observe({ policy: req.policy }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return this.execute(action, key, raw, claim);
  }

  /** The requests of the other claims that lost their GPU, oldest first. */
  private lostRequests(self: string): ClaimRequest[] {
    const out: ClaimRequest[] = [];
    for (const k of this.ctx.lostClaims()) {
      if (k === self) continue;
      const p = claimSchema.safeParse(this.ctx.claims.get(k));
      if (!p.success || p.data.status?.phase !== 'Lost' || p.data.metadata.deletionTimestamp !== undefined) continue;
      try {
        out.push(claimRequestFrom(p.data));
      } catch {
        // an invalid spec is reported on that claim; it holds nothing
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  /** Carries out what planBind decided; the only place a bind talks to the API server. */
  private async execute(action: BindAction, key: string, raw: RawClaim, claim: VirtualGPUClaim): Promise<ReconcileResult> {
    switch (action.kind) {
      case 'lost':
        if (action.reason !== 'DeviceGone') this.ctx.log.warn(action.reason === 'NodeLost' ? 'GPU node lost; placing again' : 'device overcommitted; placing again', { namespace: claim.metadata.namespace, name: claim.metadata.name, node: action.node });
        await this.writeStatus(raw, claim, { kind: 'lost', reason: action.reason, message: action.message });
        return { requeueAfterMs: 0 };
      case 'finish':
        return this.bindFinish(raw, claim, action.allocation);
      case 'unplaced':
        await this.writeStatus(raw, claim, { kind: 'unplaced', reason: action.reason, message: action.message });
        return { requeueAfterMs: this.ctx.retryUnplacedMs };
      case 'bind': {
        const a = action.allocation;
        // Counted before the first await: the next placement (another worker) already sees it.
        const assumed = { claimUID: claim.metadata.uid, claim: key, node: a.node, deviceUUID: a.deviceUUID, memoryBytes: a.memoryBytes, computePercent: a.computePercent };
        this.ctx.ledger.assume(key, assumed);
        const step = { statusSent: false };
        try {
          const r = await this.bindFinish(raw, claim, a, step);
          this.ctx.ledger.forget(key, assumed);
          return r;
        } catch (err) {
          // A refused status write (4xx: a conflict, say) allocated nothing. Any other failure of it
          // (a timeout, a dropped connection) may have landed: the assumption keeps holding the
          // capacity for a while; the claim's watch event, or the next bind, takes over from it.
          const code = statusOf(err);
          if (!step.statusSent || (code !== undefined && code >= 400 && code < 500)) this.ctx.ledger.forget(key, assumed);
          else this.ctx.clock.setTimeout(() => this.ctx.ledger.forget(key, assumed), ASSUMED_BIND_TTL_MS);
          throw err;
        }
      }
    }
  }

  /** Secret, then status Bound (the write that allocates; no-ops when both are current). */
  private async bindFinish(raw: RawClaim, claim: VirtualGPUClaim, alloc: ClaimAllocation, step?: { statusSent: boolean }): Promise<ReconcileResult> {
    const name = claim.metadata.name;
    const { refreshInMs } = await this.secrets.ensure(claim, alloc);
    if (step) step.statusSent = true;
    const wasBound = claim.status?.phase === 'Bound';
    await this.writeStatus(raw, claim, { kind: 'bound', allocation: alloc, secretName: secretNameFor(name) });
    if (!wasBound) {
      const created = Date.parse(String(claim.metadata.creationTimestamp ?? ''));
      if (Number.isFinite(created)) this.ctx.metrics.bindLatencySeconds.observe(Math.max(0, this.ctx.clock.now() - created) / 1000);
    }
    return { requeueAfterMs: refreshInMs };
  }

  /**
   * A claim being deleted holds nothing once it is gone (the ledger drops it). Claims bound by an
   * operator before 0.2 carry the finalizer avec.dev/release-allocation: remove it.
   */
  private async finalize(claim: VirtualGPUClaim): Promise<ReconcileResult> {
    const key = `${claim.metadata.namespace}/${claim.metadata.name}`;
    const fins = claim.metadata.finalizers ?? [];
    if (fins.includes(FINALIZER)) {
      await this.ctx.api.claims.patch(claim.metadata.name, {
        metadata: { finalizers: fins.filter((f) => f !== FINALIZER), resourceVersion: claim.metadata.resourceVersion },
      }, PatchStrategy.MergePatch, claim.metadata.namespace);
      this.ctx.log.info('claim released', { namespace: claim.metadata.namespace, name: claim.metadata.name });
    }
    this.secrets.forget(key);
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
    const updated = await replaceStatus<RawClaim>(this.ctx.api.claims, this.ctx.claims, { name, namespace: ns, raw: { ...raw, apiVersion: `${GROUP}/${VERSION}`, kind: CLAIM_KIND } }, next);
    this.ctx.ledger.observe(`${ns}/${name}`, this.ctx.claims.get(`${ns}/${name}`));
    const involved = { apiVersion: `${GROUP}/${VERSION}`, kind: CLAIM_KIND, name, namespace: ns, uid: String(raw.metadata.uid ?? ''), resourceVersion: updated.metadata?.resourceVersion };
    for (const e of claimEvents(prev, next)) this.ctx.events.emitAsync(involved, e.type, e.reason, e.message);
    const p = claimSchema.safeParse(updated);
    return p.success ? p.data : undefined;
  }
}
