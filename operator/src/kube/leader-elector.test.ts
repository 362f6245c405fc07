import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaderElector } from './leader-elector.js';
import { ManualClock } from './clock.js';
import { FakeKube } from '../testing/fake-kube.js';
import { silentLogger } from '@avec/common';

test('leader elector over a Lease: create, follow, take over after expiry, old leader steps down, release hands over', async () => {
  const api = new FakeKube();
  const manual = new ManualClock(1_000_000);
  // Ticks are driven by hand: the electors' own retry timers never fire.
  const clock = { now: () => manual.now(), setTimeout: () => 0, clearTimeout: () => {}, advance: (ms: number) => manual.advance(ms) };
  const events: string[] = [];
  const mk = (id: string) => new LeaderElector(api, 'avec-system', 'avec-operator', id, clock, silentLogger, {
    onStartedLeading: () => events.push(`${id}:start`),
    onStoppedLeading: () => events.push(`${id}:stop`),
  });
  const a = mk('a');
  const b = mk('b');
  await a.tick();
  await b.tick();
  assert.deepEqual([a.isLeader(), b.isLeader()], [true, false]);
  const lease = () => api.objects.get('leases/avec-system/avec-operator')!.spec as { holderIdentity: string; leaseDurationSeconds: number; leaseTransitions: number };
  assert.equal(lease().holderIdentity, 'a');
  assert.equal(lease().leaseDurationSeconds, 15);

  // a renews every 2 s: b keeps following.
  for (let i = 0; i < 10; i++) {
    clock.advance(2_000);
    await a.tick();
    await b.tick();
  }
  assert.equal(b.isLeader(), false);

  // a stops renewing (hung): after 15 s without change b takes over.
  clock.advance(14_000);
  await b.tick();
  assert.equal(b.isLeader(), false, 'not yet expired from b\'s point of view');
  clock.advance(2_000);
  await b.tick();
  assert.equal(b.isLeader(), true);
  assert.deepEqual([lease().holderIdentity, lease().leaseTransitions], ['b', 1]);
  // a wakes up: it sees b holding the lease and stops leading.
  await a.tick();
  assert.equal(a.isLeader(), false);
  assert.deepEqual(events, ['a:start', 'b:start', 'a:stop']);

  // Graceful stop releases at once: a takes over on its next tick without waiting 15 s.
  await b.stop();
  assert.equal(lease().holderIdentity, '');
  clock.advance(2_000);
  await a.tick();
  assert.equal(a.isLeader(), true);
  await a.stop();
});
