import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '@avec/common';
import { FakeKube } from '../testing/fake-kube.js';
import { ManualClock } from '../kube/clock.js';
import { Manager } from './manager.js';

const settle = async (n = 20): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
const waitUntil = async (f: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(f(), 'condition not reached');
};

test('manager: informers sync before any reconcile; changes reach the controller; resync re-queues every key', async () => {
  const api = new FakeKube();
  for (const n of ['a', 'b']) api.put('virtualgpuclaims', { metadata: { name: n, namespace: 'ns' } });
  const mgr = new Manager({ clock: new ManualClock(0), log: silentLogger });
  const seen: Array<{ key: string; synced: boolean }> = [];
  const claims = mgr.informer(api.claims, (k) => queue.add(k));
  const queue = mgr.controller('claim', {
    workers: 1, keys: () => claims.keys(),
    reconcile: async (key) => {
      seen.push({ key, synced: mgr.hasSynced() });
      return {};
    },
  });
  assert.equal(mgr.state(), 'not leading');
  await mgr.start();
  assert.equal(mgr.state(), 'synced');
  await waitUntil(() => seen.length >= 2);
  assert.deepEqual(seen.map((s) => s.key).sort(), ['ns/a', 'ns/b']);
  assert.ok(seen.every((s) => s.synced), 'no reconcile before the caches synced');
  api.put('virtualgpuclaims', { metadata: { name: 'c', namespace: 'ns' } });
  await waitUntil(() => seen.some((s) => s.key === 'ns/c'));
  seen.length = 0;
  mgr.resync();
  await waitUntil(() => seen.length >= 3);
  assert.deepEqual(seen.map((s) => s.key).sort(), ['ns/a', 'ns/b', 'ns/c']);
  await mgr.stop();
});

test('manager: with leader election only the Lease holder starts informers and workers; a stop hands over', async () => {
  const api = new FakeKube();
  api.lagWatch = false;
  api.put('virtualgpuclaims', { metadata: { name: 'a', namespace: 'ns' } });
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const reconciled: string[] = [];
  const replica = (identity: string) => {
    const mgr = new Manager({ clock, log: silentLogger, election: { api, namespace: 'avec-system', lease: 'avec-operator', identity, onStoppedLeading: () => {} } });
    const claims = mgr.informer(api.claims, (k) => q.add(k));
    const q = mgr.controller('claim', { workers: 1, keys: () => claims.keys(), reconcile: async () => (reconciled.push(identity), {}) });
    return mgr;
  };
  const one = replica('one');
  await one.start();
  await settle();
  const two = replica('two');
  await two.start();
  await settle();
  await waitUntil(() => reconciled.length > 0);
  assert.equal(one.leading, true);
  assert.equal(two.leading, false);
  assert.equal(two.state(), 'not leading');
  assert.deepEqual([...new Set(reconciled)], ['one']);
  await one.stop(); // releases the Lease
  clock.advance(2_500); // two's next retry
  await settle();
  await waitUntil(() => two.state() === 'synced');
  await waitUntil(() => reconciled.includes('two'));
  await two.stop();
});
