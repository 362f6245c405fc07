// Claim controller against an in-memory API (testing/fake-kube.ts): two replicas racing never
// double-allocate; a lost GPU node's claims move and their Secrets are rewritten; deletion releases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeKube } from '../testing/fake-kube.js';
import { ManualClock } from '../kube/clock.js';
import { Manager } from '../manager/manager.js';
import { registerControllers } from './register.js';
import { OperatorMetrics } from '../metrics.js';
import { Keyring, verifyTicket } from '@avec/tickets';
import { silentLogger } from '@avec/common';

const GiB = 2 ** 30;
const T0 = Date.parse('2026-06-01T00:00:00Z');
const keyring = new Keyring(new Map([['k1', Buffer.alloc(32, 7)]]));

function gpuNode(name: string, site: string, devices: number, memGiB: number, heartbeatMs: number) {
  return {
    apiVersion: 'avec.dev/v1alpha1', kind: 'GPUNode',
    metadata: { name },
    spec: {
      nodeName: name, site, endpoint: `${name}:7400`,
      devices: Array.from({ length: devices }, (_, i) => ({ uuid: `GPU-${name}-${i}`, model: 'H100', memoryBytes: memGiB * GiB, computeCapability: '9.0' })),
      links: [{ site, rttMs: 0.5, source: 'measured' }],
    },
    status: { heartbeatTime: new Date(heartbeatMs).toISOString(), allocations: [], conditions: [] },
  };
}

function claimObj(name: string, memGiB: number, cpct: number, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'avec.dev/v1alpha1', kind: 'VirtualGPUClaim', metadata: { name, namespace: 'ns', generation: 1 }, spec: { memory: `${memGiB}Gi`, computePercent: cpct, ...extra } };
}

async function replica(api: FakeKube, clock: ManualClock | { now(): number; setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void }) {
  // Wired as production wires it (manager + registerControllers); the test calls reconcile itself.
  const mgr = new Manager({ clock, log: silentLogger });
  const c = registerControllers(mgr, api, new OperatorMetrics(), {
    identity: 'test', keyring: () => keyring, heartbeatTimeoutMs: 30_000, ticketTtlSeconds: 3600, retryUnplacedMs: 30_000, claimWorkers: 1, lostClaimsFirst: true,
  });
  await mgr.start({ runWorkers: false });
  return { ctx: c.ctx, claimCtl: c.claims, nodeCtl: c.gpuNodes, stop: () => void mgr.stop() };
}

const settle = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

interface Alloc { claimUID: string; claim: string; memoryBytes: number; computePercent: number; deviceUUID: string }

/**
 * Safety: no device overcommitted, ever. Unless `converging`: no claim recorded on two nodes, and
 * every Bound claim's status names the node that records it. (A replica with a stale view can
 * leave a stray record of a superseded reservation for one round; the next reconcile releases it.)
 */
function checkInvariants(api: FakeKube, converging = false): { bound: number; allocs: number } {
  const seen = new Map<string, string>();
  let allocs = 0;
  for (const n of api.list('gpunodes')) {
    const spec = n.spec as { devices: Array<{ uuid: string; memoryBytes: number }> };
    const list = ((n.status as { allocations?: Alloc[] }).allocations ?? []);
    for (const d of spec.devices) {
      const on = list.filter((a) => a.deviceUUID === d.uuid);
      assert.ok(on.reduce((s, a) => s + a.memoryBytes, 0) <= d.memoryBytes, `memory overcommitted on ${d.uuid}`);
      assert.ok(on.reduce((s, a) => s + a.computePercent, 0) <= 100, `compute overcommitted on ${d.uuid}`);
    }
    for (const a of list) {
      if (!converging) assert.equal(seen.get(a.claimUID), undefined, `claim ${a.claim} allocated on ${seen.get(a.claimUID)} and ${n.metadata.name}`);
      seen.set(a.claimUID, n.metadata.name);
      allocs++;
    }
  }
  let bound = 0;
  for (const c of api.list('virtualgpuclaims')) {
    const st = c.status as { phase?: string; allocation?: { node: string } } | undefined;
    if (st?.phase === 'Bound') {
      bound++;
      if (!converging) assert.equal(seen.get(c.metadata.uid!), st.allocation?.node, `${c.metadata.name}: status and node record agree`);
    }
  }
  return { bound, allocs };
}

test('two replicas racing over the same claims never double-allocate', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  for (let i = 0; i < 4; i++) api.put('gpunodes', gpuNode(`gpu-${i}`, `s${i % 2}`, 1, 10, T0));
  const names: string[] = [];
  for (let i = 0; i < 30; i++) {
    api.put('virtualgpuclaims', claimObj(`c${String(i).padStart(2, '0')}`, 3, 10, i % 2 ? { placement: { policy: 'binpack' } } : {}));
    names.push(`ns/c${String(i).padStart(2, '0')}`);
  }
  const a = await replica(api, clock);
  const b = await replica(api, clock);
  // Every intermediate state, not only the end of a round: a lost update on a GPUNode (a write
  // without its resourceVersion) would drop a Bound claim's record and show up here at once.
  const violations: string[] = [];
  api.afterWrite = () => {
    try {
      checkInvariants(api);
    } catch (err) {
      violations.push((err as Error).message);
    }
  };
  let conflicts = 0;
  let seed = 3;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 25; round++) {
    // Each replica works through the claims in its own order, so they collide on nodes, not only on claims.
    const orderA = [...names].sort(() => rnd() - 0.5);
    const orderB = [...names].sort(() => rnd() - 0.5);
    const run = (r: typeof a, k: string) => r.claimCtl.reconcile(k).catch((e: { status?: number }) => {
      if (e.status !== 409) throw e;
      conflicts++;
    });
    await Promise.all([...orderA.map((k) => run(a, k)), ...orderB.map((k) => run(b, k))]);
    await settle();
    checkInvariants(api);
  }
  api.afterWrite = () => {};
  assert.deepEqual(violations.slice(0, 3), []);
  const { bound, allocs } = checkInvariants(api);
  assert.equal(allocs, 12, '4 devices x 3 claims of 3 GiB in 10 GiB');
  assert.equal(bound, 12);
  assert.ok(conflicts > 0, 'the replicas really raced (optimistic concurrency refused some writes)');
  const pending = api.list('virtualgpuclaims').filter((c) => (c.status as { phase?: string }).phase === 'Pending');
  assert.equal(pending.length, 18);
  for (const c of pending) assert.equal((c.status as { allocation?: unknown }).allocation, undefined);
  a.stop();
  b.stop();
});

test('two replicas committing different claims to the same GPU nodes never lose or overcommit an allocation', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  for (let i = 0; i < 2; i++) api.put('gpunodes', gpuNode(`gpu-${i}`, 'edge', 2, 20, T0));
  const even: string[] = [];
  const odd: string[] = [];
  for (let i = 0; i < 40; i++) {
    api.put('virtualgpuclaims', claimObj(`e${String(i).padStart(2, '0')}`, 2, 10, { placement: { policy: i % 2 ? 'binpack' : 'spread' } }));
    (i % 2 ? odd : even).push(`ns/e${String(i).padStart(2, '0')}`);
  }
  const a = await replica(api, clock);
  const b = await replica(api, clock);
  const violations: string[] = [];
  api.afterWrite = () => {
    try {
      checkInvariants(api);
    } catch (err) {
      violations.push((err as Error).message);
    }
  };
  let conflicts = 0;
  const run = (r: typeof a, k: string) => r.claimCtl.reconcile(k).catch((e: { status?: number }) => {
    if (e.status !== 409) throw e;
    conflicts++;
  });
  for (let round = 0; round < 6; round++) {
    // Disjoint claims, same nodes, one claim at a time per replica: only the GPUNode writes collide.
    await Promise.all([(async () => { for (const k of even) await run(a, k); })(), (async () => { for (const k of odd) await run(b, k); })()]);
    await settle();
  }
  api.afterWrite = () => {};
  assert.deepEqual(violations.slice(0, 3), []);
  const { bound, allocs } = checkInvariants(api);
  assert.equal(allocs, 40, '4 devices x 10 claims of 2 GiB and 10% compute');
  assert.equal(bound, 40);
  assert.ok(conflicts > 0, 'GPUNode writes collided and were refused');
  a.stop();
  b.stop();
});

test('replicas that disagree about which GPU nodes are alive never overcommit, and converge once they agree', async () => {
  // Replica b's clock runs 31 s ahead: to b, the nodes that heart-beat at T0 are dead, so a and b
  // place the same claims on different nodes. Only one reservation per claim can win.
  const api = new FakeKube();
  const clockA = new ManualClock(T0 + 1_000);
  const clockB = new ManualClock(T0 + 31_000);
  for (let i = 0; i < 4; i++) api.put('gpunodes', gpuNode(`gpu-${i}`, 'edge', 1, 40, i < 2 ? T0 : T0 + 30_000));
  const names: string[] = [];
  for (let i = 0; i < 16; i++) {
    api.put('virtualgpuclaims', claimObj(`d${String(i).padStart(2, '0')}`, 4, 10, { placement: { policy: 'spread' } }));
    names.push(`ns/d${String(i).padStart(2, '0')}`);
  }
  const a = await replica(api, clockA);
  const b = await replica(api, clockB);
  const round = async (): Promise<void> => {
    await Promise.all(names.flatMap((k) => [a, b].map((r) => r.claimCtl.reconcile(k).catch((e: { status?: number }) => {
      if (e.status !== 409) throw e;
    }))));
    await settle();
  };
  for (let i = 0; i < 8; i++) {
    await round();
    checkInvariants(api, true);
  }
  // The replicas come to agree (a's clock catches up): everything converges on gpu-2 and gpu-3.
  clockA.advance(30_000);
  for (let i = 0; i < 6; i++) await round();
  const { bound, allocs } = checkInvariants(api);
  assert.equal(bound, 16);
  assert.equal(allocs, 16);
  for (const n of ['gpu-0', 'gpu-1']) assert.equal(((api.objects.get(`gpunodes//${n}`)!.status as { allocations: unknown[] }).allocations).length, 0, n);
  a.stop();
  b.stop();
});

test('claim lifecycle: bound with Secret and ticket, node loss -> Lost -> re-placed with a new Secret, deletion releases', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  api.put('gpunodes', gpuNode('gpu-a', 'edge', 1, 16, T0));
  api.put('virtualgpuclaims', claimObj('job', 8, 50, { placement: { site: 'edge' } }));
  const r = await replica(api, clock);
  const rec = async (): Promise<void> => {
    for (let i = 0; i < 4; i++) {
      await r.claimCtl.reconcile('ns/job').catch(() => {});
      await settle();
    }
  };
  await rec();
  let c = api.objects.get('virtualgpuclaims/ns/job')!;
  assert.equal((c.status as { phase: string }).phase, 'Bound');
  assert.deepEqual(c.metadata.finalizers, ['avec.dev/release-allocation']);
  const secret = () => {
    const s = api.objects.get('secrets/ns/avec-claim-job') as unknown as { data: Record<string, string> };
    return { endpoint: Buffer.from(s.data.endpoint, 'base64').toString(), ticket: Buffer.from(s.data.ticket, 'base64').toString() };
  };
  assert.equal(secret().endpoint, 'gpu-a:7400');
  const v = verifyTicket(secret().ticket, { keyring, nowSeconds: T0 / 1000, nodeName: 'gpu-a' });
  assert.equal(v.ok && v.payload.mem, 8 * GiB);
  assert.equal(v.ok && v.payload.cpct, 50);

  // A second node appears, the first stops heart-beating.
  clock.advance(31_000);
  api.put('gpunodes', gpuNode('gpu-b', 'edge', 1, 16, clock.now()));
  await settle();
  await r.nodeCtl.reconcile('gpu-a');
  await settle();
  const ready = ((api.objects.get('gpunodes//gpu-a')!.status as { conditions: Array<{ type: string; status: string; reason: string }> }).conditions).find((x) => x.type === 'Ready');
  assert.deepEqual([ready?.status, ready?.reason], ['False', 'HeartbeatStale']);
  await rec();
  c = api.objects.get('virtualgpuclaims/ns/job')!;
  assert.equal((c.status as { phase: string; allocation: { node: string } }).allocation.node, 'gpu-b');
  assert.equal((c.status as { phase: string }).phase, 'Bound');
  assert.equal(secret().endpoint, 'gpu-b:7400');
  assert.equal(verifyTicket(secret().ticket, { keyring, nowSeconds: clock.now() / 1000, nodeName: 'gpu-b' }).ok, true);
  assert.equal(((api.objects.get('gpunodes//gpu-a')!.status as { allocations: unknown[] }).allocations).length, 0);
  const reasons = api.list('events').map((e) => (e as unknown as { reason: string }).reason);
  assert.ok(reasons.includes('NodeLost') && reasons.filter((x) => x === 'Bound').length === 2, reasons.join(','));

  // Deletion: the finalizer releases the allocation, then the claim goes away.
  await api.claims.delete('job', 'ns');
  await settle();
  await rec();
  assert.equal(api.objects.get('virtualgpuclaims/ns/job'), undefined);
  assert.equal(((api.objects.get('gpunodes//gpu-b')!.status as { allocations: unknown[]; allocatedMemoryBytes: number }).allocatedMemoryBytes), 0);
  r.stop();
});

test('concurrent claims for the same node are committed together (group commit), none lost', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  api.put('gpunodes', gpuNode('gpu-a', 'edge', 1, 80, T0));
  api.put('gpunodes', gpuNode('gpu-b', 'edge', 1, 80, T0));
  const keys: string[] = [];
  for (let i = 0; i < 12; i++) {
    api.put('virtualgpuclaims', claimObj(`b${i}`, 4, 5, { placement: { policy: 'binpack' } }));
    keys.push(`ns/b${i}`);
  }
  const r = await replica(api, clock);
  let nodePuts = 0;
  const orig = api.request.bind(api);
  api.request = (async (method: string, path: string, body?: unknown, ct?: string) => {
    if (method === 'PUT' && /gpunodes\/[^/]+\/status$/.test(path)) nodePuts++;
    return orig(method, path, body, ct);
  }) as typeof api.request;
  for (let round = 0; round < 3; round++) {
    await Promise.all(keys.map((k) => r.claimCtl.reconcile(k).catch(() => {})));
    await settle();
  }
  const { bound, allocs } = checkInvariants(api);
  assert.equal(bound, 12);
  assert.equal(allocs, 12);
  assert.ok(nodePuts < 12, `12 allocations took ${nodePuts} node writes`);
  r.stop();
});
