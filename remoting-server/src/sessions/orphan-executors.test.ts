// Caps survive a server restart: executors a previous server process left running are found in /proc
// and adopted (real processes: a stub executor compiled here, orphaned the way a crashed server
// leaves its children), count against their claim's cap and the node's, and stop counting once gone.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '@avec/common';
import type { TicketPayload } from '@avec/tickets';
import { createMetrics } from '../metrics.js';
import { decideAdmission } from './admission.js';
import { findOrphanExecutors, parseExecutorArgs } from './orphan-executors.js';
import { SessionManager } from './session-manager.js';

const ARGS = ['--fd', '3', '--session-id', '4242', '--memory-limit', '1048576', '--backend', 'emulated', '--device', '0', '--compute-percent', '25', '--ipc-scope', 'claim:uid-7', '--log-level', 'info'];

test('parseExecutorArgs: the arguments SessionManager passes, nothing else', () => {
  assert.deepEqual(parseExecutorArgs(['/opt/avec/avec-executor', ...ARGS], '/opt/avec/avec-executor'),
    { sessionId: '4242', claimUid: 'uid-7', memoryLimit: 1048576, deviceOrdinal: 0, computePercent: 25 });
  assert.equal(parseExecutorArgs(['/usr/bin/other', ...ARGS], '/opt/avec/avec-executor'), undefined, 'another program');
  assert.equal(parseExecutorArgs(['/opt/avec/avec-executor', '--listen', '0.0.0.0:7070'], '/opt/avec/avec-executor'), undefined, 'a standalone listener');
  assert.equal(parseExecutorArgs(['/opt/avec/avec-executor', ...ARGS.map((a) => (a === 'claim:uid-7' ? 'global' : a))], '/opt/avec/avec-executor'), undefined);
  assert.equal(parseExecutorArgs(['/opt/avec/avec-executor', ...ARGS.map((a) => (a === '1048576' ? '-5' : a))], '/opt/avec/avec-executor'), undefined);
});

const hasCc = spawnSync('cc', ['--version']).status === 0;

test('a restarted server adopts the executors its predecessor left running: they count against the caps until they exit', { skip: !hasCc && 'no C compiler' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'avec-orphans-'));
  try {
    const exe = join(dir, 'avec-executor');
    writeFileSync(join(dir, 'stub.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    execFileSync('cc', ['-o', exe, join(dir, 'stub.c')]);
    // Orphaned as a crashed server leaves them: the parent (sh) is gone, the executor runs on.
    execFileSync('sh', ['-c', '"$0" "$@" </dev/null >/dev/null 2>&1 &', exe, ...ARGS]);
    let orphans = findOrphanExecutors(exe);
    for (let i = 0; i < 50 && orphans.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      orphans = findOrphanExecutors(exe);
    }
    assert.equal(orphans.length, 1, 'found in /proc');
    assert.deepEqual({ ...orphans[0], pid: 0 }, { pid: 0, sessionId: '4242', claimUid: 'uid-7', memoryLimit: 1048576, deviceOrdinal: 0, computePercent: 25 });

    const m = new SessionManager({ executor: exe, backend: 'emulated', executorLogLevel: 'info', closeGraceMs: 200, pendingTtlMs: 60_000, logger: silentLogger, metrics: createMetrics() });
    m.adopt(orphans, 20);
    const payload: TicketPayload = { v: 1, kid: 'k', uid: 'uid-7', ns: 'ns', claim: 'c', node: 'n', dev: '', mem: 1024, cpct: 100, iat: 0, exp: 1, maxs: 1 };
    const decide = () => decideAdmission({ payload, draining: false, liveSessions: m.liveClaims(), devices: [{ ordinal: 0, uuid: 'GPU-0', memoryBytes: 2 ** 30 }], limits: { maxSessions: 64, maxSessionsPerClaim: 8 } });
    const refused = decide();
    assert.equal(refused.admit ? 'admit' : refused.reason, 'claim-session-limit', "the adopted session holds the claim's only slot");
    assert.equal(m.list()[0]?.source, 'adopted');
    assert.equal(decideAdmission({ payload: { ...payload, uid: 'uid-other', claim: 'd' }, draining: false, liveSessions: m.liveClaims(), devices: [], limits: { maxSessions: 1, maxSessionsPerClaim: 8 } }).admit, false, "and one of the node's");
    // Closing it (as drain does) ends the orphan; then the slot is free again.
    const closed = await m.close('4242');
    assert.equal(closed?.exitResult, 'gone');
    assert.deepEqual(findOrphanExecutors(exe), []);
    assert.equal(decide().admit, true);
  } finally {
    for (const o of findOrphanExecutors(join(dir, 'avec-executor'))) process.kill(o.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
