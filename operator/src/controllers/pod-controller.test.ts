// Pod controller and GPUNode orphan collection against the in-memory API fake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeKube } from '../testing/fake-kube.js';
import type { KubeObject } from '../kube/informer.js';
import { ManualClock } from '../kube/clock.js';
import { Manager } from '../manager/manager.js';
import { registerControllers } from './register.js';
import { PodController } from './pod-controller.js';
import { GPUNodeController } from './gpunode-controller.js';
import { OperatorMetrics } from '../metrics.js';
import { Keyring } from '@avec/tickets';
import { silentLogger } from '@avec/common';
import type { OperatorContext } from './context.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');

/** A FakeKube that also understands the JSON patch ops the pod controller sends. */
class PodPatchingKube extends FakeKube {
  override async request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    if (method === 'PATCH' && contentType === 'application/json-patch+json') {
      const cur = await super.request<Record<string, unknown>>('GET', path);
      const doc = structuredClone(cur) as Record<string, unknown>;
      for (const op of body as Array<{ op: string; path: string; value?: unknown }>) {
        const toks = op.path.split('/').slice(1);
        const last = toks.pop()!;
        let at = doc as Record<string, unknown> | unknown[];
        for (const t of toks) at = (Array.isArray(at) ? at[Number(t)] : at[t]) as Record<string, unknown>;
        if (op.op === 'test') assert.deepEqual(Array.isArray(at) ? at[Number(last)] : at[last], op.value);
        else if (op.op === 'remove') (at as unknown[]).splice(Number(last), 1);
        else (at as Record<string, unknown>)[last] = op.value;
      }
      const meta = doc.metadata as { namespace?: string };
      return this.put('pods', { ...(doc as object), metadata: { ...(doc.metadata as object), namespace: meta.namespace } } as never) as T;
    }
    return super.request<T>(method, path, body, contentType);
  }
}

async function context(api: FakeKube, clock: ManualClock): Promise<OperatorContext> {
  // Wired as production wires it (manager + registerControllers); the tests drive their own controllers.
  const mgr = new Manager({ clock, log: silentLogger });
  const { ctx } = registerControllers(mgr, api, new OperatorMetrics(), {
    identity: 't', keyring: () => new Keyring(new Map([['k', Buffer.alloc(32)]])), heartbeatTimeoutMs: 30_000, ticketTtlSeconds: 3600, retryUnplacedMs: 1000, claimWorkers: 1, lostClaimsFirst: true,
  });
  await mgr.start({ runWorkers: false });
  ctx.claimBacklog = () => 0; // no workers drain the queue here
  return ctx;
}
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const stopAll = (ctx: OperatorContext): void => [ctx.claims, ctx.gpuNodes, ctx.pods].forEach((i) => i.stop());

test('pod controller: creates the pod-owned inline claim, then lifts the gate and narrows affinity once Bound', async () => {
  const api = new PodPatchingKube();
  const clock = new ManualClock(T0);
  api.put('pods', {
    metadata: { name: 'nb', namespace: 'ns', labels: { 'avec.dev/managed': 'true' }, annotations: { 'avec.dev/claim': 'nb-gpu', 'avec.dev/inline-claim': 'true', 'avec.dev/gpu-memory': '2Gi', 'avec.dev/gpu-compute-percent': '20' } },
    spec: { containers: [{ name: 'c' }], schedulingGates: [{ name: 'avec.dev/claim-bound' }] },
  });
  const ctx = await context(api, clock);
  const ctl = new PodController(ctx);
  await ctl.reconcile('ns/nb');
  await settle();
  const claim = api.objects.get('virtualgpuclaims/ns/nb-gpu')!;
  assert.deepEqual(claim.spec, { memory: '2Gi', computePercent: 20, placement: {} });
  assert.deepEqual((claim.metadata as { ownerReferences?: Array<{ kind: string; name: string }> }).ownerReferences?.map((o) => [o.kind, o.name]), [['Pod', 'nb']]);
  ctl.indexPod('ns/nb');
  assert.deepEqual(ctl.podsOfClaim('ns', 'nb-gpu'), ['ns/nb']);
  // Not bound yet: the gate stays.
  await ctl.reconcile('ns/nb');
  assert.equal(((api.objects.get('pods/ns/nb')!.spec as { schedulingGates: unknown[] }).schedulingGates).length, 1);
  api.put('virtualgpuclaims', { ...claim, status: { phase: 'Bound', allocation: { node: 'g', site: 'edge-b', deviceUUID: 'D', endpoint: 'g:1', memoryBytes: 1, computePercent: 20 }, conditions: [] } });
  await settle();
  await ctl.reconcile('ns/nb');
  const pod = api.objects.get('pods/ns/nb')!.spec as { schedulingGates: unknown[]; affinity?: unknown };
  assert.deepEqual(pod.schedulingGates, []);
  assert.match(JSON.stringify(pod.affinity), /"avec.dev\/site","operator":"In","values":\["edge-b"\]/);
  stopAll(ctx);
});

test('pod controller: a pod naming a missing claim stays gated and is told so once', async () => {
  const api = new PodPatchingKube();
  const clock = new ManualClock(T0);
  api.put('pods', {
    metadata: { name: 'p', namespace: 'ns', labels: { 'avec.dev/managed': 'true' }, annotations: { 'avec.dev/claim': 'missing' } },
    spec: { containers: [{ name: 'c' }], schedulingGates: [{ name: 'avec.dev/claim-bound' }] },
  });
  const ctx = await context(api, clock);
  const ctl = new PodController(ctx);
  await ctl.reconcile('ns/p');
  await ctl.reconcile('ns/p');
  await settle();
  const ev = api.list('events').map((e) => e as unknown as { reason: string; message: string; involvedObject: { kind: string; name: string } });
  assert.deepEqual(ev.map((e) => [e.reason, e.involvedObject.kind, e.involvedObject.name]), [['ClaimNotFound', 'Pod', 'p']]);
  assert.match(ev[0].message, /VirtualGPUClaim missing does not exist in namespace ns/);
  assert.equal(api.list('virtualgpuclaims').length, 0, 'no claim is invented for a named claim');
  stopAll(ctx);
});

test('GPUNode controller: Ready from heartbeat; the allocation summary follows the claims (deleted ones drop out)', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  api.put('virtualgpuclaims', {
    metadata: { name: 'alive', namespace: 'ns', uid: 'u-alive' }, spec: { memory: '1Gi' },
    status: { phase: 'Bound', conditions: [], allocation: { node: 'g', deviceUUID: 'D', endpoint: 'g:1', memoryBytes: 2 ** 30, computePercent: 10 } },
  });
  api.put('gpunodes', {
    metadata: { name: 'g' },
    spec: { nodeName: 'g', site: 's', endpoint: 'g:1', devices: [{ uuid: 'D', model: 'm', memoryBytes: 10 * 2 ** 30, computeCapability: '9.0' }], links: [] },
    status: {
      heartbeatTime: new Date(T0).toISOString(),
      allocations: [
        { claimUID: 'u-alive', claim: 'ns/alive', memoryBytes: 2 ** 30, computePercent: 10, deviceUUID: 'D' },
        { claimUID: 'u-gone', claim: 'ns/gone', memoryBytes: 2 ** 30, computePercent: 10, deviceUUID: 'D' },
      ],
      conditions: [],
    },
  });
  const ctx = await context(api, clock);
  const requeued: string[] = [];
  const ctl = new GPUNodeController(ctx, (k) => requeued.push(k));
  const r = await ctl.reconcile('g');
  assert.equal(r.requeueAfterMs, 30_001, 'look again when the heartbeat would expire');
  let st = api.objects.get('gpunodes//g')!.status as { allocations: Array<{ claim: string }>; allocatedMemoryBytes: number; conditions: Array<{ type: string; status: string }> };
  assert.deepEqual(st.allocations.map((a) => a.claim), ['ns/alive']);
  assert.equal(st.allocatedMemoryBytes, 2 ** 30);
  assert.equal(st.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  await settle();
  clock.advance(30_001);
  await ctl.reconcile('g');
  st = api.objects.get('gpunodes//g')!.status as typeof st;
  assert.equal(st.conditions.find((c) => c.type === 'Ready')?.status, 'False');
  assert.deepEqual(requeued, ['ns/alive'], 'claims of a NotReady node are re-queued');
  stopAll(ctx);
});
