// VirtualGPUClaim reconcile. The GPUNode's status.allocations is the source of truth for what is
// allocated; a claim is Bound when its allocation is recorded there, its Secret is written and its
// status says so. Protocol (safe with two operators racing):
//   1. reserve: one metadata patch of the claim (resourceVersion precondition) that adds the
//      finalizer and the annotation avec.dev/reservation {node, device} — only one writer wins,
//   2. commit: add the allocation to the GPUNode status (node resourceVersion precondition,
//      re-checking capacity on the freshest copy),
//   3. write the Secret (endpoint + ticket), 4. status Bound.
// A crash between steps leaves a state the next reconcile completes or rolls back.
import { randomBytes } from 'node:crypto';
import { CLAIM_KIND, FINALIZER, GROUP, RESERVATION_ANNOTATION, VERSION, claimSchema, secretNameFor, type ClaimAllocation, type GPUNode, type VirtualGPUClaim } from '@avec/api';
import { claimRequestFrom, type ClaimRequest } from '../placement/model.js';
import { planBind, readReservation, type BindAction, type Reservation } from './claim-plan.js';
import { renderClaimStatus, claimEvents, sameStatus, type ClaimOutcome } from './claim-status.js';
import { AllocationWriter } from './allocation-writer.js';
import { ClaimSecretWriter } from './claim-secret-writer.js';
import { splitKey } from '../kube/keys.js';
import { PatchStrategy } from '@avec/kube';
import type { KubeObject } from '../kube/informer.js';
import { replaceStatus } from '../kube/status-writer.js';
import type { ReconcileResult } from '../kube/controller-loop.js';
import { type OperatorContext } from './context.js';
import { errorMessage, type Logger } from '@avec/common';

type RawClaim = KubeObject & Record<string, unknown> & { metadata: Record<string, unknown>; status?: unknown };

export class ClaimController {
  private readonly allocations: AllocationWriter;
  private readonly secrets: ClaimSecretWriter;

  constructor(private readonly ctx: OperatorContext) {
    this.allocations = new AllocationWriter(ctx);
    this.secrets = new ClaimSecretWriter(ctx);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const raw = this.ctx.claims.get(key) as RawClaim | undefined;
    if (!raw) {
      this.secrets.forget(key);
      return {};
    }
    const [ns, name] = splitKey(key);
    const log = this.ctx.log.child({ namespace: ns, name, kind: CLAIM_KIND });
    const parsed = claimSchema.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return this.writeStatus(raw, undefined, { kind: 'invalid', message: `spec.${i?.path.join('.')}: ${i?.message}` });
    }
    const claim = parsed.data;
    if (claim.metadata.deletionTimestamp !== undefined) return this.finalize(raw, claim);
    let req;
    try {
      req = claimRequestFrom(claim);
    } catch (err) {
      return this.writeStatus(raw, claim, { kind: 'invalid', message: `spec.memory: ${errorMessage(err)}` });
    }
    const now = this.ctx.clock.now();
    const reservation = readReservation(claim.metadata.annotations);
    const reservedNode = reservation && this.ctx.nodes.get(reservation.node);
    const t0 = process.hrtime.bigint();
    const action = planBind({
      claim,
      request: req,
      records: this.ctx.nodes.allocationsOf(claim.metadata.uid).map((r) => ({ ...r, ready: this.ctx.nodes.ready(r.node, now) })),
      reservedNode: reservedNode ? { node: reservedNode, ready: this.ctx.nodes.ready(reservedNode, now) } : undefined,
      views: () => this.ctx.nodes.views(now),
      lostClaims: () => this.lostRequests(key),
    });
    if (action.kind === 'reserve' || action.kind === 'unplaced') {
      this.ctx.metrics.placementSeconds.observe({ policy: req.policy }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return this.execute(action, raw, claim, req, log);
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
  private async execute(action: BindAction, raw: RawClaim, claim: VirtualGPUClaim, req: ClaimRequest, log: Logger): Promise<ReconcileResult> {
    const uid = claim.metadata.uid;
    const key = `${claim.metadata.namespace ?? ''}/${claim.metadata.name}`;
    const record = (node: GPUNode, deviceUUID: string, reservation: string | undefined) =>
      this.allocations.commit(node, { claimUID: uid, claim: key, memoryBytes: req.memoryBytes, computePercent: req.computePercent, deviceUUID, reservation });
    switch (action.kind) {
      case 'release':
        for (const r of action.records) {
          await this.allocations.release(r.node, uid, key);
          log.info(action.why === 'superseded' ? 'released an allocation of a superseded reservation' : 'released a duplicate allocation', { node: r.node.metadata.name });
        }
        return { requeueAfterMs: 0 };
      case 'guard':
        await this.patchMeta(raw, claim, { reservation: action.reservation });
        return { requeueAfterMs: 0 };
      case 'lost':
        await this.allocations.release(action.record.node, uid, key);
        if (action.reason === 'NodeLost') log.warn('GPU node lost; releasing and placing again', { node: action.record.node.metadata.name });
        await this.writeStatus(raw, claim, { kind: 'lost', reason: action.reason, message: action.message });
        return { requeueAfterMs: 0 }; // the stale reservation is dropped on the next round
      case 'resize': {
        const r = await record(action.record.node, action.record.alloc.deviceUUID, action.record.alloc.reservation);
        if (r !== 'ok') {
          await this.allocations.release(action.record.node, uid, key);
          return { requeueAfterMs: 0 };
        }
        return this.bindFinish(raw, claim, action.allocation);
      }
      case 'finish':
        return this.bindFinish(raw, claim, action.allocation);
      case 'commit-reservation': {
        // Our copy of the claim may be stale (another replica may have replaced the reservation):
        // commit only a reservation the API server still holds.
        const fresh = (await this.ctx.api.claims.get(claim.metadata.name, claim.metadata.namespace)) as RawClaim;
        this.ctx.claims.upsertLocal(fresh);
        if (readReservation(fresh.metadata.annotations as Record<string, string> | undefined)?.id !== action.reservation.id) return { requeueAfterMs: 0 };
        const r = await record(action.node, action.reservation.device, action.reservation.id);
        if (r === 'ok') return this.bindFinish(fresh, claim, action.allocation);
        await this.patchMeta(fresh, claim, { reservation: null });
        log.info('reservation dropped; placing again', { node: action.reservation.node, why: r });
        return { requeueAfterMs: 0 };
      }
      case 'drop-reservation': {
        const fresh = await this.patchMeta(raw, claim, { reservation: null });
        if (action.markLost) {
          await this.writeStatus(fresh, claim, { kind: 'lost', reason: 'NodeLost', message: `GPU node ${action.reservation.node} is gone or not ready` });
        }
        log.info('reservation dropped; placing again', { node: action.reservation.node, why: 'NodeNotReady' });
        return { requeueAfterMs: 0 };
      }
      case 'unplaced':
        await this.writeStatus(raw, claim, { kind: 'unplaced', reason: action.reason, message: action.message });
        return { requeueAfterMs: this.ctx.retryUnplacedMs };
      case 'reserve': {
        const id = randomBytes(6).toString('hex');
        const reserved = await this.patchMeta(raw, claim, { reservation: { node: action.node, device: action.deviceUUID, id } });
        const r = await record(this.ctx.nodes.get(action.node)!, action.deviceUUID, id);
        if (r === 'ok') return this.bindFinish(reserved, claim, action.allocation);
        return { requeueAfterMs: 0 }; // the next round sees the reservation and retries or re-places
      }
    }
  }

  /** Steps 3 and 4. */
  private async bindFinish(raw: RawClaim, claim: VirtualGPUClaim, alloc: ClaimAllocation): Promise<ReconcileResult> {
    const name = claim.metadata.name;
    const { refreshInMs } = await this.secrets.ensure(claim, alloc);
    const wasBound = claim.status?.phase === 'Bound';
    await this.writeStatus(raw, claim, { kind: 'bound', allocation: alloc, secretName: secretNameFor(name) });
    if (!wasBound) {
      const created = Date.parse(String(claim.metadata.creationTimestamp ?? ''));
      if (Number.isFinite(created)) this.ctx.metrics.bindLatencySeconds.observe(Math.max(0, this.ctx.clock.now() - created) / 1000);
    }
    return { requeueAfterMs: refreshInMs };
  }

  /** Step 1 (and its undoing): the finalizer plus the reservation annotation, in one guarded patch. */
  private async patchMeta(raw: RawClaim, claim: VirtualGPUClaim, o: { reservation: Reservation | null }): Promise<RawClaim> {
    const fins = claim.metadata.finalizers ?? [];
    const updated = (await this.ctx.api.claims.patch(claim.metadata.name, {
      metadata: {
        resourceVersion: String(raw.metadata.resourceVersion ?? ''),
        ...(fins.includes(FINALIZER) ? {} : { finalizers: [...fins, FINALIZER] }),
        annotations: { [RESERVATION_ANNOTATION]: o.reservation ? JSON.stringify(o.reservation) : null },
      },
    }, PatchStrategy.MergePatch, claim.metadata.namespace)) as RawClaim;
    this.ctx.claims.upsertLocal(updated);
    return updated;
  }

  private async finalize(raw: RawClaim, claim: VirtualGPUClaim): Promise<ReconcileResult> {
    const key = `${claim.metadata.namespace}/${claim.metadata.name}`;
    for (const r of this.ctx.nodes.allocationsOf(claim.metadata.uid)) await this.allocations.release(r.node, claim.metadata.uid, key);
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
    const updated = await replaceStatus<RawClaim>(this.ctx.api.claims, this.ctx.claims, { name, namespace: ns, raw }, next);
    const involved = { apiVersion: `${GROUP}/${VERSION}`, kind: CLAIM_KIND, name, namespace: ns, uid: String(raw.metadata.uid ?? ''), resourceVersion: updated.metadata?.resourceVersion };
    for (const e of claimEvents(prev, next)) this.ctx.events.emitAsync(involved, e.type, e.reason, e.message);
    const p = claimSchema.safeParse(updated);
    return p.success ? p.data : undefined;
  }
}
