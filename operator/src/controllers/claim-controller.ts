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
import { z } from 'zod';
import { claimSchema, type VirtualGPUClaim, type ClaimAllocation, GROUP, VERSION, CLAIM_KIND } from '../api/claim.js';
import { claimRequestFrom, nodeViewFrom } from '../placement/model.js';
import { placeClaim, latencyFrom } from '../placement/place.js';
import { renderClaimStatus, claimEvents, sameStatus, type ClaimOutcome } from './claim-status.js';
import { AllocationWriter } from './allocation-writer.js';
import { ClaimSecretWriter } from './claim-secret-writer.js';
import { splitKey } from '../kube/keys.js';
import { PatchStrategy } from '@avec/kube';
import type { KubeObject } from '../kube/informer.js';
import { replaceStatus } from '../kube/status-writer.js';
import type { ReconcileResult } from '../kube/controller-loop.js';
import { secretNameFor } from '../admission/inject.js';
import { FINALIZER, type OperatorContext } from './context.js';
import { errorMessage } from '../util/errors.js';

/**
 * Annotation holding the placement being bound: JSON {"node", "device", "id"}. The id is copied into
 * the GPUNode allocation, so an allocation made for a superseded reservation (by a replica with a
 * stale view) is recognised and released.
 */
export const RESERVATION = 'avec.dev/reservation';
interface Reservation {
  node: string;
  device: string;
  id: string;
}
const reservationSchema = z.object({ node: z.string().min(1), device: z.string().min(1), id: z.string().min(1) });

function readReservation(ann: Record<string, string> | undefined): Reservation | undefined {
  const v = ann?.[RESERVATION];
  if (!v) return undefined;
  try {
    const r = reservationSchema.safeParse(JSON.parse(v));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

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
    const uid = claim.metadata.uid;

    // Where is it recorded? Keep one record (the one the status names), release any others.
    const reservation = readReservation(claim.metadata.annotations);
    let records = this.ctx.nodes.allocationsOf(uid);
    // Records made for another reservation than the current one are strays of a lost race: release.
    const stray = records.filter((r) => r.alloc.reservation !== undefined && r.alloc.reservation !== reservation?.id);
    for (const r of stray) {
      await this.allocations.release(r.node, uid, key);
      log.info('released an allocation of a superseded reservation', { node: r.node.metadata.name });
    }
    records = records.filter((r) => !stray.includes(r));
    if (records.length > 1) {
      const want = reservation?.node ?? claim.status?.allocation?.node;
      const keep = records.find((r) => r.node.metadata.name === want) ?? records[0];
      for (const r of records) if (r !== keep) await this.allocations.release(r.node, uid, key);
      records = [keep];
    }
    const rec = records[0];
    if (rec) {
      const node = rec.node;
      if (!(claim.metadata.finalizers ?? []).includes(FINALIZER)) {
        // Recorded by a reservation without the finalizer (edited by hand?): guard the allocation again.
        await this.patchMeta(raw, claim, { reservation: reservation ?? null });
        return { requeueAfterMs: 0 };
      }
      if (!this.ctx.nodes.ready(node, now)) {
        await this.allocations.release(node, uid, key);
        log.warn('GPU node lost; releasing and placing again', { node: node.metadata.name });
        await this.writeStatus(raw, claim, { kind: 'lost', reason: 'NodeLost', message: `GPU node ${node.metadata.name} stopped heart-beating` });
        return { requeueAfterMs: 0 }; // the stale reservation is dropped on the next round
      }
      if (!node.spec.devices.some((d) => d.uuid === rec.alloc.deviceUUID)) {
        await this.allocations.release(node, uid, key);
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
        const r = await this.allocations.commit(node, { claimUID: uid, claim: key, memoryBytes: req.memoryBytes, computePercent: req.computePercent, deviceUUID: rec.alloc.deviceUUID, reservation: rec.alloc.reservation });
        if (r !== 'ok') {
          await this.allocations.release(node, uid, key);
          return { requeueAfterMs: 0 };
        }
        alloc.memoryBytes = req.memoryBytes;
        alloc.computePercent = req.computePercent;
      }
      return this.bindFinish(raw, claim, alloc);
    }

    // Reserved but not recorded on a node (a crash between steps 1 and 2, a conflict, or the record
    // was released after a node loss): commit it there if the node is fine, else drop it.
    if (reservation) {
      // Our copy of the claim may be stale (another replica may have replaced the reservation):
      // commit only a reservation the API server still holds.
      const fresh = (await this.ctx.api.claims.get(name, ns)) as RawClaim;
      this.ctx.claims.upsertLocal(fresh);
      if (readReservation(fresh.metadata.annotations as Record<string, string> | undefined)?.id !== reservation.id) return { requeueAfterMs: 0 };
      const node = this.ctx.nodes.get(reservation.node);
      const fits = node && this.ctx.nodes.ready(node, now)
        ? await this.allocations.commit(node, { claimUID: uid, claim: key, memoryBytes: req.memoryBytes, computePercent: req.computePercent, deviceUUID: reservation.device, reservation: reservation.id })
        : 'NodeNotReady';
      if (fits === 'ok') {
        return this.bindFinish(fresh, claim, {
          node: reservation.node, site: node!.spec.site || undefined, deviceUUID: reservation.device, endpoint: node!.spec.endpoint,
          memoryBytes: req.memoryBytes, computePercent: req.computePercent, latencyMs: latencyFrom(nodeViewFrom(node!, true), req.site),
        });
      }
      await this.patchMeta(fresh, claim, { reservation: null });
      if (claim.status?.phase === 'Bound') {
        await this.writeStatus(this.ctx.claims.get(key) as RawClaim, claim, { kind: 'lost', reason: 'NodeLost', message: `GPU node ${reservation.node} is gone or not ready` });
      }
      log.info('reservation dropped; placing again', { node: reservation.node, why: fits });
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
    const id = randomBytes(6).toString('hex');
    const reserved = await this.patchMeta(raw, claim, { reservation: { node: decision.node, device: decision.deviceUUID, id } });
    const node = this.ctx.nodes.get(decision.node)!;
    const r = await this.allocations.commit(node, { claimUID: uid, claim: key, memoryBytes: req.memoryBytes, computePercent: req.computePercent, deviceUUID: decision.deviceUUID, reservation: id });
    if (r === 'ok') return this.bindFinish(reserved, claim, allocation);
    return { requeueAfterMs: 0 }; // the next round sees the reservation and retries or re-places
  }

  /** Step 2: record the allocation on the node (optimistic concurrency). */
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
        annotations: { [RESERVATION]: o.reservation ? JSON.stringify(o.reservation) : null },
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
