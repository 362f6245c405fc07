import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeKube } from '../testing/fake-kube.js';
import { Informer, type KubeObject } from '../kube/informer.js';
import { ManualClock } from '../kube/clock.js';
import { NodeStore } from './node-store.js';
import { AllocationLedger } from './allocation-ledger.js';
import { latencyFrom } from '../placement/place.js';
import { silentLogger } from '@avec/common';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const node = (name: string, hbMs: number, extra: { labels?: Record<string, string>; allocations?: unknown[] } = {}) => ({
  metadata: { name, labels: extra.labels },
  spec: { nodeName: name, site: 's', endpoint: `${name}:1`, devices: [{ uuid: `D-${name}`, model: 'm', memoryBytes: 100, computeCapability: '9.0' }], links: [] },
  status: { heartbeatTime: new Date(hbMs).toISOString(), allocations: extra.allocations ?? [], conditions: [] },
});

test('node store: cached views follow heartbeat expiry, draining label and changes; free capacity from the ledger, not the summary', async () => {
  const api = new FakeKube();
  api.lagWatch = false;
  const clock = new ManualClock(T0);
  api.put('gpunodes', node('a', T0));
  api.put('gpunodes', node('b', T0 + 10_000));
  const inf = new Informer<KubeObject>(api.gpuNodes, { clock, log: silentLogger }, () => {});
  void inf.run();
  while (!inf.hasSynced()) await new Promise((r) => setImmediate(r));
  const ledger = new AllocationLedger();
  const store = new NodeStore(inf, 30_000, ledger);
  const ready = (now: number) => store.views(now).map((v) => `${v.name}:${v.ready}`).sort().join(' ');
  assert.equal(ready(T0 + 30_000), 'a:true b:true');
  assert.equal(store.views(T0 + 30_000), store.views(T0 + 30_000), 'same array while nothing changed');
  assert.equal(ready(T0 + 30_001), 'a:false b:true', 'a expired without any event');
  assert.equal(ready(T0 + 40_001), 'a:false b:false');
  api.put('gpunodes', node('b', T0 + 40_000, { labels: { 'avec.dev/draining': 'true' } }));
  assert.equal(ready(T0 + 40_001), 'a:false b:false', 'fresh but draining');
  api.put('gpunodes', node('b', T0 + 40_000, { allocations: [{ claimUID: 'u0', claim: 'n/stale', memoryBytes: 90, computePercent: 10, deviceUUID: 'D-b' }] }));
  assert.equal(ready(T0 + 40_001), 'a:false b:true');
  assert.equal(store.views(T0 + 40_001).find((v) => v.name === 'b')?.devices[0].freeMemoryBytes, 100, 'the GPUNode summary is not what placement reads');
  const before = store.views(T0 + 40_001);
  ledger.assume('n/c', { claimUID: 'u1', claim: 'n/c', node: 'b', memoryBytes: 60, computePercent: 10, deviceUUID: 'D-b' });
  const after = store.views(T0 + 40_001);
  assert.notEqual(after, before, 'a ledger change rebuilds the views');
  assert.equal(after.find((v) => v.name === 'b')?.devices[0].freeMemoryBytes, 40);
  assert.equal(after.find((v) => v.name === 'a'), before.find((v) => v.name === 'a'), 'only the changed node is rebuilt');
  ledger.forget('n/c');
  assert.equal(store.views(T0 + 40_001).find((v) => v.name === 'b')?.devices[0].freeMemoryBytes, 100);
  inf.stop();
});

test('node store: positions hold when a node changes; latency columns follow the views and their links', async () => {
  const api = new FakeKube();
  api.lagWatch = false;
  const clock = new ManualClock(T0);
  const linked = (name: string, site: string, rtt: number) => {
    const n = node(name, T0);
    return { ...n, spec: { ...n.spec, site, links: [{ site: 'x', rttMs: rtt, bandwidthMbps: 1, source: 'measured' }] } };
  };
  api.put('gpunodes', linked('a', 'x', 1));
  api.put('gpunodes', linked('b', 'y', 5));
  api.put('gpunodes', { ...linked('c', 'y', 0), spec: { ...linked('c', 'y', 0).spec, links: [] } });
  const inf = new Informer<KubeObject>(api.gpuNodes, { clock, log: silentLogger }, () => {});
  void inf.run();
  while (!inf.hasSynced()) await new Promise((r) => setImmediate(r));
  const ledger = new AllocationLedger();
  const store = new NodeStore(inf, 30_000, ledger);
  const names = () => store.views(T0).map((v) => v.name).join(',');
  const before = names();
  const col = (site: string) => Array.from(store.latencies(site).latency).map((v) => (Number.isNaN(v) ? 'NaN' : String(v))).join(',');
  const expected = (site: string) => store.views(T0).map((v) => String(latencyFrom(v, site) ?? 'NaN')).join(',');
  assert.equal(col('x'), expected('x'));
  assert.equal(col('y'), expected('y'), 'unknown link: 0 within the node\'s own site, NaN elsewhere');
  assert.equal(store.latencies('x'), store.latencies('x'), 'one column per site while nothing moved');
  ledger.assume('n/c', { claimUID: 'u1', claim: 'n/c', node: 'b', memoryBytes: 60, computePercent: 10, deviceUUID: 'D-b' });
  api.put('gpunodes', { ...linked('a', 'x', 1), status: { ...node('a', T0 + 1).status } });
  assert.equal(names(), before, 'a heartbeat or a bind keeps the order');
  const kept = store.latencies('x');
  store.views(T0);
  assert.equal(store.latencies('x'), kept, 'capacity and heartbeats do not rebuild latencies');
  api.put('gpunodes', linked('a', 'x', 9));
  store.views(T0);
  assert.equal(col('x'), expected('x'), 'a changed link is seen');
  assert.match(col('x'), /^9,/);
  inf.stop();
});

