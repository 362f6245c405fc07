// Session bookkeeping that needs no executor: reservations, their expiry, per-claim usage, drain.
// (Executor supervision is covered by integration.test.ts against the real executor.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../log.js';
import { createMetrics } from '../metrics.js';
import { randomSessionId, SessionManager, type Admitted } from './session-manager.js';

const decision = (claim: string, memoryLimit = 100): Admitted => ({ admit: true, claim, deviceOrdinal: 0, deviceUuid: 'GPU-x', memoryLimit, computePercent: 100 });

function manager(pendingTtlMs = 60_000) {
  let n = 0;
  const metrics = createMetrics();
  const m = new SessionManager({
    executor: '/nonexistent', backend: 'emulated', executorLogLevel: 'info', closeGraceMs: 10, pendingTtlMs, logger: silentLogger, metrics,
    newId: () => String(++n), now: () => 1000 * n,
  });
  return { m, metrics };
}

test('reservations count per claim, show in usage and metrics, and close', async () => {
  const { m, metrics } = manager();
  const a = m.reserve(decision('ns/a', 100), 'uid-a', 't1');
  m.reserve(decision('ns/a', 50), 'uid-a', 't2');
  m.reserve(decision('ns/b', 7), 'uid-b', 't3');
  assert.deepEqual(m.liveClaims(), [{ claim: 'ns/a' }, { claim: 'ns/a' }, { claim: 'ns/b' }]);
  assert.deepEqual(Object.fromEntries(m.claimUsage()), {
    'ns/a': { sessions: 2, memoryLimitBytes: 150, memoryUsedBytes: 0 },
    'ns/b': { sessions: 1, memoryLimitBytes: 7, memoryUsedBytes: 0 },
  });
  assert.match(await metrics.registry.getSingleMetricAsString('avec_claim_memory_limit_bytes'), /claim="ns\/a"\} 150/);
  assert.match(await metrics.registry.getSingleMetricAsString('avec_sessions_active'), /state="pending"\} 3/);

  const closed = await m.close(a.id);
  assert.equal(closed?.state, 'exited');
  assert.equal(closed?.exitResult, 'clean');
  assert.equal(m.list().length, 2);
  assert.equal(m.list({ includeEnded: true }).length, 3);
  assert.equal(m.list({ claim: 'ns/b' }).length, 1);
  assert.equal(m.get(a.id)?.state, 'exited', 'ended sessions stay queryable');
  assert.doesNotMatch(await metrics.registry.getSingleMetricAsString('avec_executor_exits_total'), /result=/, 'a reservation is not an executor exit');
});

test('an unused reservation expires after the pending TTL', async () => {
  const { m, metrics } = manager(30);
  const s = m.reserve(decision('ns/a'), 'uid', 't');
  assert.equal(m.liveClaims().length, 1);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(m.liveClaims().length, 0);
  assert.equal(m.get(s.id)?.state, 'exited');
  assert.doesNotMatch(await metrics.registry.getSingleMetricAsString('avec_claim_sessions'), /ns\/a/, 'claims without sessions leave the gauge');
});

test('drain sets the flag and ends reservations at once', async () => {
  const { m } = manager();
  m.reserve(decision('ns/a'), 'uid', 't');
  const r = await m.drain(1000);
  assert.equal(m.draining, true);
  assert.deepEqual(r, { ended: 1, killed: 0 });
  assert.equal(m.liveClaims().length, 0);
});

test('random session ids are decimal, non-zero and within 52 bits', () => {
  for (let i = 0; i < 100; i++) {
    const id = randomSessionId();
    assert.match(id, /^[1-9]\d*$/);
    assert.ok(Number(id) <= 2 ** 52);
  }
});
