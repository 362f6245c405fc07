// Claim controller against an in-memory API (testing/fake-kube.ts): concurrent workers never
// double-allocate; an operator that restarts mid-bind re-derives what is allocated from the claims;
// two replicas that both lead (split brain) converge to no overcommit; a lost GPU node's claims move
// and their Secrets are rewritten; deletion releases; two API writes per bind.
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
  // No workers drain the queue here (the tests reconcile themselves): it is never a backlog.
  c.ctx.claimBacklog = () => 0;
  return { ctx: c.ctx, claimCtl: c.claims, nodeCtl: c.gpuNodes, stop: () => void mgr.stop() };
}

const settle = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

interface BoundStatus { phase?: string; allocation?: { node: string; deviceUUID: string; memoryBytes: number; computePercent: number } }

/**
 * Safety, from the source of truth (the claims' status): no device holds more memory or compute
 * than it has. Returns how many claims are Bound.
 */
function checkInvariants(api: FakeKube): { bound: number } {
  const use = new Map<string, { mem: number; cpct: number }>();
  let bound = 0;
  for (const c of api.list('virtualgpuclaims')) {
    const st = c.status as BoundStatus | undefined;
    if (st?.phase !== 'Bound' || !st.allocation) continue;
    bound++;
    const u = use.get(st.allocation.deviceUUID) ?? { mem: 0, cpct: 0 };
    use.set(st.allocation.deviceUUID, { mem: u.mem + st.allocation.memoryBytes, cpct: u.cpct + st.allocation.computePercent });
  }
  for (const n of api.list('gpunodes')) {
    for (const d of (n.spec as { devices: Array<{ uuid: string; memoryBytes: number }> }).devices) {
      const u = use.get(d.uuid) ?? { mem: 0, cpct: 0 };
      assert.ok(u.mem <= d.memoryBytes, `memory overcommitted on ${d.uuid}`);
      assert.ok(u.cpct <= 100, `compute overcommitted on ${d.uuid}`);
    }
  }
  return { bound };
}

/** The GPUNodes' allocation summaries agree with the claims (after the GPUNode controller ran). */
function checkSummaries(api: FakeKube): number {
  const want = new Map<string, string[]>();
  for (const c of api.list('virtualgpuclaims')) {
    const st = c.status as BoundStatus | undefined;
    if (st?.phase === 'Bound' && st.allocation) want.set(st.allocation.node, [...(want.get(st.allocation.node) ?? []), `${c.metadata.namespace}/${c.metadata.name}`].sort());
  }
  let n = 0;
  for (const node of api.list('gpunodes')) {
    const got = ((node.status as { allocations?: Array<{ claim: string }> }).allocations ?? []).map((a) => a.claim).sort();
    assert.deepEqual(got, want.get(node.metadata.name) ?? [], `summary of ${node.metadata.name}`);
    n += got.length;
  }
  return n;
}

function watchInvariants(api: FakeKube): string[] {
  const violations: string[] = [];
  // Every intermediate state, not only the end of a round.
  api.afterWrite = () => {
    try {
      checkInvariants(api);
    } catch (err) {
      violations.push((err as Error).message);
    }
  };
  return violations;
}

const swallow409 = (p: Promise<unknown>): Promise<unknown> => p.catch((e: { status?: number }) => {
  if (e.status !== 409) throw e;
});

test('concurrent workers of one operator never double-allocate (binds in flight count at once)', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  for (let i = 0; i < 4; i++) api.put('gpunodes', gpuNode(`gpu-${i}`, `s${i % 2}`, 1, 10, T0));
  const names: string[] = [];
  for (let i = 0; i < 30; i++) {
    api.put('virtualgpuclaims', claimObj(`c${String(i).padStart(2, '0')}`, 3, 10, i % 2 ? { placement: { policy: 'binpack' } } : {}));
    names.push(`ns/c${String(i).padStart(2, '0')}`);
  }
  const a = await replica(api, clock);
  const violations = watchInvariants(api);
  for (let round = 0; round < 4; round++) {
    await Promise.all(names.map((k) => swallow409(a.claimCtl.reconcile(k))));
    await settle();
  }
  api.afterWrite = () => {};
  assert.deepEqual(violations.slice(0, 3), []);
  assert.equal(checkInvariants(api).bound, 12, '4 devices x 3 claims of 3 GiB in 10 GiB');
  const pending = api.list('virtualgpuclaims').filter((c) => (c.status as BoundStatus).phase === 'Pending');
  assert.equal(pending.length, 18);
  for (const c of pending) assert.equal((c.status as BoundStatus).allocation, undefined);
  clock.advance(10_001);
  for (let i = 0; i < 4; i++) await a.nodeCtl.reconcile(`gpu-${i}`);
  assert.equal(checkSummaries(api), 12);
  a.stop();
});

test('an operator that restarts mid-bind re-derives the allocations from the claims: no double allocation', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  for (let i = 0; i < 2; i++) api.put('gpunodes', gpuNode(`gpu-${i}`, 'edge', 1, 12, T0));
  const names: string[] = [];
  for (let i = 0; i < 12; i++) {
    api.put('virtualgpuclaims', claimObj(`r${String(i).padStart(2, '0')}`, 4, 10));
    names.push(`ns/r${String(i).padStart(2, '0')}`);
  }
  const first = await replica(api, clock);
  // The first operator dies after writing some Secrets but before their status writes land.
  const orig = api.request.bind(api);
  let statusWrites = 0;
  api.request = (async (method: string, path: string, body?: unknown, ct?: string) => {
    const binds = (body as { status?: { phase?: string } } | undefined)?.status?.phase === 'Bound';
    if (method === 'PUT' && binds && ++statusWrites > 3) throw new Error('operator crashed');
    return orig(method, path, body, ct);
  }) as typeof api.request;
  await Promise.all(names.map((k) => first.claimCtl.reconcile(k).catch(() => {})));
  await settle();
  first.stop();
  api.request = orig;
  assert.equal(checkInvariants(api).bound, 3);
  const violations = watchInvariants(api);
  const second = await replica(api, clock);
  for (let round = 0; round < 3; round++) {
    await Promise.all(names.map((k) => swallow409(second.claimCtl.reconcile(k))));
    await settle();
  }
  api.afterWrite = () => {};
  assert.deepEqual(violations.slice(0, 3), []);
  assert.equal(checkInvariants(api).bound, 6, '2 devices x 3 claims of 4 GiB in 12 GiB, the first three kept');
  for (const k of names.slice(0, 3)) assert.equal((api.objects.get(`virtualgpuclaims/${k}`)!.status as BoundStatus).phase, 'Bound');
  second.stop();
});

test('two replicas that both lead (split brain) may overcommit for a moment, then the youngest claims move: they converge', async () => {
  // Leader election keeps one replica binding at a time; this is what happens when it fails.
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  for (let i = 0; i < 4; i++) api.put('gpunodes', gpuNode(`gpu-${i}`, 'edge', 1, 10, T0));
  const names: string[] = [];
  for (let i = 0; i < 30; i++) {
    api.put('virtualgpuclaims', claimObj(`d${String(i).padStart(2, '0')}`, 3, 10, { placement: { policy: i % 2 ? 'binpack' : 'spread' } }));
    names.push(`ns/d${String(i).padStart(2, '0')}`);
  }
  const a = await replica(api, clock);
  const b = await replica(api, clock);
  let seed = 3;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const round = async (rs: Array<typeof a>): Promise<void> => {
    await Promise.all(rs.flatMap((r) => [...names].sort(() => rnd() - 0.5).map((k) => swallow409(r.claimCtl.reconcile(k)))));
    await settle();
  };
  await round([a, b]);
  // Split brain over: one replica leads and converges.
  for (let i = 0; i < 6; i++) {
    clock.advance(1_000);
    await round([a]);
  }
  assert.equal(checkInvariants(api).bound, 12);
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
  assert.equal(c.metadata.finalizers, undefined, 'no finalizer: the claim status is what holds the allocation');
  const secret = () => {
    const s = api.objects.get('secrets/ns/avec-claim-job') as unknown as { data: Record<string, string> };
    return { endpoint: Buffer.from(s.data.endpoint, 'base64').toString(), ticket: Buffer.from(s.data.ticket, 'base64').toString() };
  };
  assert.equal(secret().endpoint, 'gpu-a:7400');
  const v = verifyTicket(secret().ticket, { keyring, nowSeconds: T0 / 1000, nodeName: 'gpu-a' });
  assert.equal(v.ok && v.payload.mem, 8 * GiB);
  assert.equal(v.ok && v.payload.cpct, 50);
  assert.equal(v.ok && v.payload.maxs, 8, "the operator's default per-claim session cap is signed into the ticket");
  assert.deepEqual(api.list('events'), [], 'a claim bound at once gets no Event');
  await r.nodeCtl.reconcile('gpu-a');
  assert.equal(((api.objects.get('gpunodes//gpu-a')!.status as { allocatedMemoryBytes: number }).allocatedMemoryBytes), 8 * GiB, 'summary written');

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
  clock.advance(10_001);
  await r.nodeCtl.reconcile('gpu-a');
  assert.equal(((api.objects.get('gpunodes//gpu-a')!.status as { allocations: unknown[] }).allocations).length, 0);
  const reasons = api.list('events').map((e) => (e as unknown as { reason: string }).reason);
  assert.ok(reasons.includes('NodeLost') && reasons.filter((x) => x === 'Bound').length === 1, reasons.join(','));

  // Deletion: the claim goes at once; the node's summary follows.
  await r.nodeCtl.reconcile('gpu-b');
  assert.equal(((api.objects.get('gpunodes//gpu-b')!.status as { allocatedMemoryBytes: number }).allocatedMemoryBytes), 8 * GiB);
  await api.claims.delete('job', 'ns');
  await settle();
  await rec();
  assert.equal(api.objects.get('virtualgpuclaims/ns/job'), undefined);
  clock.advance(10_001);
  await r.nodeCtl.reconcile('gpu-b');
  assert.equal(((api.objects.get('gpunodes//gpu-b')!.status as { allocations: unknown[]; allocatedMemoryBytes: number }).allocatedMemoryBytes), 0);
  r.stop();
});

test('a legacy claim with the finalizer of operator 0.1 is released on deletion', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  api.put('gpunodes', gpuNode('gpu-a', 'edge', 1, 16, T0));
  const legacy = claimObj('old', 8, 50);
  api.put('virtualgpuclaims', { ...legacy, metadata: { ...legacy.metadata, finalizers: ['avec.dev/release-allocation'] } });
  const r = await replica(api, clock);
  await r.claimCtl.reconcile('ns/old');
  await settle();
  await api.claims.delete('old', 'ns');
  await settle();
  assert.ok(api.objects.get('virtualgpuclaims/ns/old')?.metadata.deletionTimestamp, 'held by the finalizer');
  await r.claimCtl.reconcile('ns/old');
  await settle();
  assert.equal(api.objects.get('virtualgpuclaims/ns/old'), undefined);
  r.stop();
});

test('a burst of binds: two API writes per claim (Secret, status); GPUNode summaries at most once per node per interval, after the backlog', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  api.put('gpunodes', gpuNode('gpu-a', 'edge', 1, 80, T0));
  api.put('gpunodes', gpuNode('gpu-b', 'edge', 1, 80, T0));
  const keys: string[] = [];
  for (let i = 0; i < 12; i++) {
    api.put('virtualgpuclaims', claimObj(`b${i}`, 4, 5, { placement: { policy: i % 2 ? 'binpack' : 'spread' } }));
    keys.push(`ns/b${i}`);
  }
  const r = await replica(api, clock);
  const writes = new Map<string, number>();
  const orig = api.request.bind(api);
  api.request = (async (method: string, path: string, body?: unknown, ct?: string) => {
    if (method !== 'GET') {
      const what = `${method} ${path.replace(/\/namespaces\/[^/]+/, '').replace(/\/(virtualgpuclaims|gpunodes|secrets|events)\/[^/]+/, '/$1/*')}`;
      writes.set(what, (writes.get(what) ?? 0) + 1);
    }
    return orig(method, path, body, ct);
  }) as typeof api.request;
  await Promise.all(keys.map((k) => r.claimCtl.reconcile(k)));
  await settle();
  for (const n of ['gpu-a', 'gpu-b']) await r.nodeCtl.reconcile(n);
  // More binds within the interval: the summary waits.
  api.put('virtualgpuclaims', claimObj('late', 4, 5));
  await settle();
  await r.claimCtl.reconcile('ns/late');
  const later = [await r.nodeCtl.reconcile('gpu-a'), await r.nodeCtl.reconcile('gpu-b')].map((x) => x.requeueAfterMs ?? Infinity);
  assert.ok(Math.min(...later) <= 10_000, `the changed node is looked at again within the interval: ${later}`);
  assert.equal(checkInvariants(api).bound, 13);
  // (The two Events are the nodes' first NodeReady, not the claims'.)
  assert.deepEqual(api.list('events').map((e) => (e as unknown as { reason: string }).reason), ['NodeReady', 'NodeReady']);
  assert.deepEqual(Object.fromEntries(writes), {
    'POST /api/v1/secrets': 13,
    'PUT /apis/avec.dev/v1alpha1/virtualgpuclaims/*/status': 13,
    'PUT /apis/avec.dev/v1alpha1/gpunodes/*/status': 2,
    'POST /api/v1/events': 2,
  });
  // While claims wait in the queue, a due summary still waits (binds first), for at most a minute.
  let backlog = 100;
  r.ctx.claimBacklog = () => backlog;
  const lateNode = (api.objects.get('virtualgpuclaims/ns/late')!.status as BoundStatus).allocation!.node;
  clock.advance(10_001);
  const deferred = await r.nodeCtl.reconcile(lateNode);
  assert.equal(deferred.requeueAfterMs, 1_000, 'deferred behind the claim backlog');
  assert.equal(writes.get('PUT /apis/avec.dev/v1alpha1/gpunodes/*/status'), 2);
  clock.advance(60_000);
  await r.nodeCtl.reconcile(lateNode);
  assert.equal(writes.get('PUT /apis/avec.dev/v1alpha1/gpunodes/*/status'), 3, 'written once stale for a minute, backlog or not');
  backlog = 0;
  for (const n of ['gpu-a', 'gpu-b']) await r.nodeCtl.reconcile(n);
  assert.equal(checkSummaries(api), 13);
  r.stop();
});

test('tickets carry the per-claim session cap: spec.maxSessions, else the operator default; a changed cap re-signs', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  api.put('gpunodes', gpuNode('gpu-a', 'edge', 1, 80, T0));
  api.put('virtualgpuclaims', claimObj('one', 4, 10, { maxSessions: 1 }));
  api.put('virtualgpuclaims', claimObj('dflt', 4, 10));
  const mgr = new Manager({ clock, log: silentLogger });
  const c = registerControllers(mgr, api, new OperatorMetrics(), {
    identity: 'test', keyring: () => keyring, heartbeatTimeoutMs: 30_000, ticketTtlSeconds: 3600, retryUnplacedMs: 30_000, claimWorkers: 1, lostClaimsFirst: true, maxSessionsPerClaim: 3,
  });
  await mgr.start({ runWorkers: false });
  const maxs = (name: string): number | undefined => {
    const s = api.objects.get(`secrets/ns/avec-claim-${name}`) as unknown as { data: Record<string, string> };
    const v = verifyTicket(Buffer.from(s.data.ticket, 'base64').toString(), { keyring, nowSeconds: clock.now() / 1000, nodeName: 'gpu-a' });
    return v.ok ? v.payload.maxs : undefined;
  };
  for (const k of ['ns/one', 'ns/dflt']) await c.claims.reconcile(k);
  assert.deepEqual([maxs('one'), maxs('dflt')], [1, 3]);
  // The cap is part of what the ticket grants: an operator started with another default re-signs.
  c.ctx.maxSessionsPerClaim = 5;
  clock.advance(1_000);
  await settle();
  await c.claims.reconcile('ns/dflt');
  assert.equal(maxs('dflt'), 5);
  void mgr.stop();
});

test('a status write whose answer is lost keeps holding its capacity: no other claim takes it meanwhile', async () => {
  const api = new FakeKube();
  const clock = new ManualClock(T0);
  api.put('gpunodes', gpuNode('gpu-a', 'edge', 1, 10, T0));
  api.put('virtualgpuclaims', claimObj('first', 8, 10));
  api.put('virtualgpuclaims', claimObj('second', 8, 10));
  const r = await replica(api, clock);
  const orig = api.request.bind(api);
  let dropped = false;
  api.request = (async (method: string, path: string, body?: unknown, ct?: string) => {
    const res = await orig(method, path, body, ct);
    // The write lands, the answer never comes back (a timeout, a dropped connection).
    if (!dropped && method === 'PUT' && /virtualgpuclaims\/first\/status$/.test(path)) {
      dropped = true;
      throw new Error('socket hang up');
    }
    return res;
  }) as typeof api.request;
  api.watchLagTicks = 50; // and its watch event has not arrived yet either
  await assert.rejects(r.claimCtl.reconcile('ns/first'), /socket hang up/);
  await r.claimCtl.reconcile('ns/second');
  assert.notEqual((api.objects.get('virtualgpuclaims/ns/second')!.status as BoundStatus | undefined)?.phase, 'Bound', 'the capacity stays held');
  assert.equal(checkInvariants(api).bound, 1);
  api.request = orig;
  r.stop();
});
