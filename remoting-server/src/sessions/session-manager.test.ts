// Session bookkeeping that needs no executor: reservations, their expiry, per-claim usage, drain.
// (Executor supervision is covered by integration.test.ts against the real executor.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { test } from 'node:test';
import { silentLogger } from '@avec/common';
import { createMetrics } from '../metrics.js';
import { randomSessionId, SessionManager, type Admitted, type SpawnFn } from './session-manager.js';
import { sessionNumber } from './session-number.js';

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
  assert.deepEqual(m.liveClaims(), [{ claim: 'ns/a', claimUid: 'uid-a', infoOnly: false }, { claim: 'ns/a', claimUid: 'uid-a', infoOnly: false }, { claim: 'ns/b', claimUid: 'uid-b', infoOnly: false }]);
  assert.deepEqual(Object.fromEntries(m.claimUsage()), {
    'ns/a': { sessions: 2, memoryLimitBytes: 150, memoryUsedBytes: 0, hostMemoryBytes: 0 },
    'ns/b': { sessions: 1, memoryLimitBytes: 7, memoryUsedBytes: 0, hostMemoryBytes: 0 },
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

// Supervision with real child processes standing in for the executor's process lifecycle (the
// executor itself is exercised in integration.test.ts): `sh` ignores the executor flags it is given.
function supervised(script: string, closeGraceMs = 100) {
  const metrics = createMetrics();
  const spawnFn: SpawnFn = (_cmd, _args, opts) => spawn('/bin/sh', ['-c', script], opts);
  const m = new SessionManager({
    executor: '/bin/sh', backend: 'emulated', executorLogLevel: 'info', closeGraceMs, pendingTtlMs: 60_000, logger: silentLogger, metrics, spawnFn,
  });
  return { m, metrics };
}

const conn = (ticket: string) => ({ fd: openSync('/dev/null', 'r'), ticket, clientPid: 1, clientHost: 'h', peerAddress: '127.0.0.1', peerPort: 1 });

test('a reservation is taken by exactly one of two simultaneous connections with its ticket', async () => {
  const { m } = supervised('exec sleep 5');
  const r = m.reserve(decision('ns/a'), 'uid', 'tk');
  const c1 = conn('tk');
  const c2 = conn('tk');
  const [s1, s2] = await Promise.all([m.start(c1, decision('ns/a'), 'uid'), m.start(c2, decision('ns/a'), 'uid')]);
  closeSync(c1.fd);
  closeSync(c2.fd);
  assert.equal(s1.id, r.id);
  assert.notEqual(s2.id, r.id);
  assert.notEqual(s1.executorPid, s2.executorPid);
  await m.drain(0, 50);
  assert.equal(m.liveClaims().length, 0);
});

test('close: SIGTERM first, SIGKILL after the grace for a process that ignores it; exits are classified', async () => {
  const { m, metrics } = supervised(`trap "" TERM; echo '{"level":"info","event":"session_stats","frames":3,"bytes_in":10,"bytes_out":20,"host_rss":4096,"ops":"MEM_ALLOC:1:1:48:40,LAUNCH:2:0:200:0"}' >&2; echo '{"level":"info","event":"session_stats","frames":5,"ops":"MEM_ALLOC:1:1:48:40,LAUNCH:5:0:500:0"}' >&2; while :; do sleep 0.05; done`, 150);
  const c = conn('t');
  const s = await m.start(c, decision('ns/k'), 'uid');
  closeSync(c.fd);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(m.get(s.id)?.counters, { frames: 5, bytesIn: 10, bytesOut: 20, memoryUsedBytes: 0, hostMemoryBytes: 4096 }, 'counters from stderr');
  assert.match(await metrics.registry.getSingleMetricAsString('avec_claim_host_memory_bytes'), /claim="ns\/k"\} 4096/);
  // the executor's cumulative per-opcode figures become per-claim counters (the server's side of AVEC_STATS)
  const requests = await metrics.registry.getSingleMetricAsString('avec_session_requests_total');
  assert.match(requests, /claim="ns\/k",op="MEM_ALLOC",kind="round_trip"\} 1$/m);
  assert.match(requests, /claim="ns\/k",op="LAUNCH",kind="batched"\} 5$/m, 'deltas, not the sum of readings');
  assert.doesNotMatch(requests, /op="LAUNCH",kind="round_trip"/);
  assert.match(await metrics.registry.getSingleMetricAsString('avec_session_op_bytes_total'), /op="LAUNCH",direction="in"\} 500$/m);
  const t0 = Date.now();
  const ended = await m.close(s.id);
  assert.ok(Date.now() - t0 >= 140, 'waited the grace before SIGKILL');
  assert.equal(ended?.exitSignal, 'SIGKILL');
  assert.equal(ended?.exitResult, 'killed');
  assert.match(await metrics.registry.getSingleMetricAsString('avec_executor_exits_total'), /result="killed"\} 1/);
  assert.match(await metrics.registry.getSingleMetricAsString('avec_session_bytes_total'), /direction="out"\} 20/);

  const { m: m2 } = supervised('exit 3');
  const c2 = conn('t');
  const s2 = await m2.start(c2, decision('ns/e'), 'uid');
  closeSync(c2.fd);
  await new Promise<void>((r) => {
    const poll = () => (m2.get(s2.id)?.state === 'exited' ? r() : setTimeout(poll, 10));
    poll();
  });
  assert.equal(m2.get(s2.id)?.exitCode, 3);
  assert.equal(m2.get(s2.id)?.exitResult, 'error');
});

test('a missing executor rejects start, so the caller can refuse the HELLO', async () => {
  const metrics = createMetrics();
  const m = new SessionManager({ executor: '/nonexistent/avec-executor', backend: 'emulated', executorLogLevel: 'info', closeGraceMs: 10, pendingTtlMs: 1000, logger: silentLogger, metrics });
  const c = conn('t');
  await assert.rejects(m.start(c, decision('ns/x'), 'uid'), /ENOENT/);
  closeSync(c.fd);
  assert.equal(m.liveClaims().length, 0);
});

test('join channels: opened per session under its wire number, passed as fd 4, closed here at once and on exit', async () => {
  const metrics = createMetrics();
  const opened: Array<[string, string]> = [];
  const closed: string[] = [];
  const seen: Array<{ args: string[]; stdio: unknown[] }> = [];
  const spawnFn: SpawnFn = (_cmd, args, opts) => {
    seen.push({ args, stdio: opts.stdio as unknown[] });
    return spawn('/bin/sh', ['-c', 'exit 0'], opts);
  };
  const m = new SessionManager({
    executor: '/bin/sh', backend: 'emulated', executorLogLevel: 'info', closeGraceMs: 10, pendingTtlMs: 60_000, logger: silentLogger, metrics, spawnFn,
    newId: () => 'pod-a',
    joinChannels: {
      open: (n, id) => {
        opened.push([n, id]);
        return openSync('/dev/null', 'r');
      },
      close: (n) => void closed.push(n),
    },
  });
  const c = conn('t');
  const s = await m.start(c, decision('ns/j'), 'uid');
  closeSync(c.fd);
  assert.deepEqual(opened, [[String(sessionNumber('pod-a')), 'pod-a']], 'keyed by what the executor puts in its HELLO reply');
  const args = seen[0]!.args;
  assert.equal(args[args.indexOf('--stripe-channel') + 1], '4');
  assert.equal(seen[0]!.stdio.length, 5);
  const fd = seen[0]!.stdio[4] as number;
  assert.throws(() => fstatSync(fd), /EBADF/, 'our copy of the executor end is closed once it is spawned');
  await new Promise<void>((r) => {
    const poll = () => (m.get(s.id)?.state === 'exited' ? r() : setTimeout(poll, 10));
    poll();
  });
  assert.deepEqual(closed, [String(sessionNumber('pod-a'))], 'the listener end closes when the executor exits');

  // info-only sessions never get stripes; a channel that cannot be opened leaves the session without them
  const { m: m2 } = supervised('exit 0');
  const c2 = { ...conn('t'), infoOnly: true };
  await m2.start(c2, decision('ns/j'), 'uid');
  closeSync(c2.fd);
  assert.equal(opened.length, 1);
});
