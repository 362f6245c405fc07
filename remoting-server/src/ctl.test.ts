import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { HealthState } from './control/health-service.js';
import { startGrpcServer, stopGrpcServer } from './control/grpc-server.js';
import { runCtl } from './ctl.js';
import { silentLogger } from '@avec/common';
import { createMetrics } from './metrics.js';
import { SessionManager } from './sessions/session-manager.js';
import { Keyring, verifyTicket } from '@avec/tickets';

let dir: string;
let server: grpc.Server;
let port: number;
const now = 1_800_000_000;

async function ctl(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCtl(args, (s) => (out += s), () => now);
  return { code, out };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'avec-ctl-'));
  await writeFile(join(dir, 'a1'), Buffer.alloc(32, 1));
  await writeFile(join(dir, 'b2'), Buffer.alloc(32, 2));
  await writeFile(join(dir, 'current'), 'a1\n');
  await writeFile(join(dir, 'token'), 'tok\n');
  const metrics = createMetrics();
  const sessions = new SessionManager({ executor: '/x', backend: 'emulated', executorLogLevel: 'info', closeGraceMs: 10, pendingTtlMs: 60_000, logger: silentLogger, metrics });
  const keyring = new Keyring(new Map([['a1', new Uint8Array(Buffer.alloc(32, 1))]]));
  const admission = { nodeName: 'n1', keyring: () => keyring, devices: () => [], limits: { maxSessions: 4, maxSessionsPerClaim: 4 }, sessions, nowSeconds: () => now };
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0 }, {
    admission, sessions, health: new HealthState(), metrics, logger: silentLogger, nodeName: 'n1', site: () => 's', dataEndpoint: () => '127.0.0.1:1',
    inventory: () => undefined, telemetry: () => undefined, pendingTtlSeconds: 30, adminToken: 'tok', nowSeconds: () => now,
  });
  server = s.server;
  port = s.port;
});

after(async () => {
  await stopGrpcServer(server);
  await rm(dir, { recursive: true, force: true });
});

test('ctl ticket signs with the "current" kid and the ticket verifies', async () => {
  const { code, out } = await ctl('ticket', '--key-dir', dir, '--node', 'n1', '--claim', 'ns/c', '--mem', '1024', '--ttl', '60');
  assert.equal(code, 0);
  const v = verifyTicket(out.trim(), { keyring: new Keyring(new Map([['a1', new Uint8Array(Buffer.alloc(32, 1))]])), nodeName: 'n1', nowSeconds: now });
  assert.ok(v.ok);
  assert.equal(v.ok && v.payload.kid, 'a1');
  assert.equal(v.ok && v.payload.mem, 1024);
  assert.equal(v.ok && v.payload.exp, now + 60);
  await assert.rejects(ctl('ticket', '--key-dir', dir, '--node', 'n1'), /--claim/);
});

test('ctl open/sessions/close/drain/health against a gRPC server', async () => {
  const server = `127.0.0.1:${port}`;
  const ticket = (await ctl('ticket', '--key-dir', dir, '--node', 'n1', '--claim', 'ns/c')).out.trim();
  const opened = JSON.parse((await ctl('open', '--server', server, '--ticket', ticket)).out) as { session_id: string };
  const listed = JSON.parse((await ctl('sessions', '--server', server)).out) as { sessions: Array<{ session_id: string }> };
  assert.deepEqual(listed.sessions.map((s) => s.session_id), [opened.session_id]);
  await assert.rejects(ctl('close', opened.session_id, '--server', server), /admin token/);
  const closed = JSON.parse((await ctl('close', opened.session_id, '--server', server, '--token', join(dir, 'token'))).out) as { found: boolean };
  assert.equal(closed.found, true);
  assert.equal(JSON.parse((await ctl('drain', '--server', server, '--token', join(dir, 'token'))).out).sessions_remaining, 0);
  assert.equal(JSON.parse((await ctl('health', '--server', server, '--service', 'avec.v1.Control')).out).status, 'NOT_SERVING');
  assert.equal((await ctl('bogus', '--server', server)).code, 2);
});

test('ctl --version and --help', async () => {
  let out = '';
  assert.equal(await runCtl(['--version'], (s) => (out += s)), 0);
  assert.match(out, /^avec-ctl \d+\.\d+\.\d+\n$/);
  out = '';
  assert.equal(await runCtl(['--help'], (s) => (out += s)), 0);
  assert.match(out, /--help and --version/);
});
