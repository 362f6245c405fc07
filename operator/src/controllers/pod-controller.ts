// Pod reconcile (only pods the webhook mutated: label avec.dev/managed=true): create the pod-owned
// claim of an inline request, and once the claim is Bound narrow the pod's affinity and lift the gate.
import { ANN_CLAIM, CLAIM_KIND, GROUP, SCHEDULING_GATE, VERSION, claimSchema } from '@avec/api';
import { inlineClaimFor } from '../admission/inline-claim.js';
import { releasePodPatch, type GatedPodView } from './pod-release.js';
import { splitKey } from '../kube/keys.js';
import { isStatus, PatchStrategy } from '@avec/kube';
import type { KubeObject } from '../kube/informer.js';
import type { ReconcileResult } from '../kube/controller-loop.js';
import type { OperatorContext } from './context.js';

interface PodObject extends KubeObject {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string>; resourceVersion?: string };
  spec: GatedPodView;
}

export class PodController {
  /** Last Event reason told per pod, so a pod gets one Event per change, not one per reconcile. */
  private readonly told = new Map<string, string>();

  constructor(private readonly ctx: OperatorContext) {}

  private tell(pod: PodObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const k = pod.metadata.uid;
    if (this.told.get(k) === message) return;
    this.told.set(k, message);
    if (this.told.size > 10_000) this.told.delete(this.told.keys().next().value as string);
    this.ctx.events.emitAsync({ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid }, type, reason, message);
  }

  /** claim key -> keys of the pods that use it, kept current by indexPod(). */
  private readonly byClaim = new Map<string, Set<string>>();
  private readonly claimOfPod = new Map<string, string>();

  /** Call on every pod informer change. */
  indexPod(podKey: string): void {
    const prev = this.claimOfPod.get(podKey);
    const pod = this.ctx.pods.get(podKey) as PodObject | undefined;
    const name = pod?.metadata.annotations?.[ANN_CLAIM];
    const next = pod && name ? `${pod.metadata.namespace}/${name}` : undefined;
    if (prev === next) return;
    if (prev !== undefined) {
      this.byClaim.get(prev)?.delete(podKey);
      if (this.byClaim.get(prev)?.size === 0) this.byClaim.delete(prev);
      this.claimOfPod.delete(podKey);
    }
    if (next !== undefined) {
      let set = this.byClaim.get(next);
      if (!set) this.byClaim.set(next, (set = new Set()));
      set.add(podKey);
      this.claimOfPod.set(podKey, next);
    }
  }

  /** Pods in `ns` that use the claim `name` (for re-queueing them when the claim changes). */
  podsOfClaim(ns: string, name: string): string[] {
    return [...(this.byClaim.get(`${ns}/${name}`) ?? [])].sort();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const pod = this.ctx.pods.get(key) as PodObject | undefined;
    if (!pod || !(pod.spec.schedulingGates ?? []).some((g) => g.name === SCHEDULING_GATE)) return {};
    const [ns, name] = splitKey(key);
    const log = this.ctx.log.child({ namespace: ns, name, kind: 'Pod' });
    const claimName = pod.metadata.annotations?.[ANN_CLAIM];
    if (!claimName) return {};
    const raw = this.ctx.claims.get(`${ns}/${claimName}`);
    if (!raw) {
      const inline = inlineClaimFor(pod.metadata.annotations, pod.spec);
      if (!inline) {
        // Waiting for the user's claim; its creation re-queues this pod.
        this.tell(pod, 'Warning', 'ClaimNotFound', `VirtualGPUClaim ${claimName} does not exist in namespace ${ns}; the pod stays gated until it does`);
        return {};
      }
      try {
        await this.ctx.api.claims.create({
          apiVersion: `${GROUP}/${VERSION}`,
          kind: CLAIM_KIND,
          metadata: {
            name: inline.name,
            namespace: ns,
            labels: { 'avec.dev/inline': 'true' },
            ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata.uid, controller: true }],
          },
          spec: inline.spec,
        }, ns);
        log.info('created pod-owned claim', { claim: inline.name });
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
      }
      return {};
    }
    const claim = claimSchema.safeParse(raw);
    if (!claim.success) return {};
    if (claim.data.status?.phase !== 'Bound') {
      const sched = claim.data.status?.conditions.find((c) => c.type === 'Scheduled');
      if (sched?.status === 'False') {
        this.tell(pod, 'Normal', 'WaitingForClaim', `claim ${claimName} is ${claim.data.status?.phase ?? 'Pending'}: ${sched.reason}: ${sched.message ?? ''}`);
      }
      return {};
    }
    const site = claim.data.spec.placement.site ?? claim.data.status.allocation?.site;
    const ops = releasePodPatch(pod.spec, site);
    if (!ops) return {};
    const updated = (await this.ctx.api.pods.patch(name, ops, PatchStrategy.JsonPatch, ns)) as KubeObject;
    this.ctx.pods.upsertLocal(updated);
    this.told.delete(pod.metadata.uid);
    log.info('claim bound; scheduling gate lifted', { claim: claimName, site, node: claim.data.status.allocation?.node });
    return {};
  }
}
