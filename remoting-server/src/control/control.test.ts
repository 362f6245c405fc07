// The gRPC control API against a real server on loopback.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '@avec/common';
import { createMetrics } from '../metrics.js';
import { SessionManager } from '../sessions/session-manager.js';
import { Keyring, signTicket, type TicketPayload } from '@avec/tickets';
import { HealthState } from './health-service.js';
import { startGrpcServer, stopGrpcServer } from './grpc-server.js';
import { controlClient, type ControlClient } from './control-client.js';

const key = new Uint8Array(Buffer.alloc(32, 7));
const now = 1_800_000_000;
const payload: TicketPayload = { v: 1, kid: 'k1', uid: 'uid-1', ns: 'ns', claim: 'c', node: 'gpu-1', dev: '', mem: 1 << 20, cpct: 30, iat: now, exp: now + 600 };
const inventory = { backend: 'emulated' as const, driverVersion: 13000, devices: [{ ordinal: 0, uuid: 'GPU-e0', model: 'avec emulated device', memoryBytes: 1 << 30, computeCapability: '9.0', emulated: true }] };

let server: grpc.Server;
let client: ControlClient;
let sessions: SessionManager;
const metrics = createMetrics();
const admin = new grpc.Metadata();
admin.set('authorization', 'Bearer s3cret');

before(async () => {
  sessions = new SessionManager({ executor: '/nonexistent', backend: 'emulated', executorLogLevel: 'info', closeGraceMs: 100, pendingTtlMs: 60_000, logger: silentLogger, metrics });
  const admission = { nodeName: 'gpu-1', keyring: () => new Keyring(new Map([['k1', key]])), devices: () => inventory.devices, limits: { maxSessions: 10, maxSessionsPerClaim: 2 }, sessions, nowSeconds: () => now };
  const started = await startGrpcServer({ host: '127.0.0.1', port: 0 }, {
    admission, sessions, health: new HealthState(), metrics, logger: silentLogger, nodeName: 'gpu-1', site: () => 'edge-a',
    dataEndpoint: () => '10.0.0.1:7070', inventory: () => inventory, telemetry: () => ({ available: false, reason: 'no NVML', devices: [] }),
    pendingTtlSeconds: 30, adminToken: 's3cret', nowSeconds: () => now,
  });
  server = started.server;
  client = controlClient(`127.0.0.1:${started.port}`);
});

after(async () => {
  client.close();
  await stopGrpcServer(server);
});

test('health: the server and the Control service are SERVING; unknown services are NOT_FOUND', async () => {
  assert.equal((await client.Check({ service: '' })).status, 'SERVING');
  assert.equal((await client.Check({ service: 'avec.v1.Control' })).status, 'SERVING');
  await assert.rejects(client.Check({ service: 'nope' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
});

test('ListDevices reports the inventory, node, site and endpoint', async () => {
  const r = await client.ListDevices({});
  assert.equal(r.backend, 'emulated');
  assert.equal(r.node_name, 'gpu-1');
  assert.equal(r.site, 'edge-a');
  assert.equal(r.data_endpoint, '10.0.0.1:7070');
  const devs = r.devices as Array<Record<string, unknown>>;
  assert.equal(devs.length, 1);
  assert.equal(devs[0]!.uuid, 'GPU-e0');
  assert.equal(devs[0]!.memory_bytes, String(1 << 30));
  assert.equal(devs[0]!.emulated, true);
});

test('OpenSession reserves a session with the ticket limits; bad tickets and limits are refused', async () => {
  const r = await client.OpenSession({ ticket: signTicket(payload, key) });
  assert.match(String(r.session_id), /^\d+$/);
  assert.equal(r.data_endpoint, '10.0.0.1:7070');
  assert.equal(r.memory_limit_bytes, String(1 << 20));
  assert.equal(r.compute_percent, 30);
  assert.equal(r.expires_at_unix, String(now + 30));

  const listed = await client.ListSessions({ claim: 'ns/c' });
  const ss = listed.sessions as Array<Record<string, unknown>>;
  assert.equal(ss.length, 1);
  assert.equal(ss[0]!.session_id, r.session_id);
  assert.equal(ss[0]!.state, 'pending');
  assert.equal(ss[0]!.source, 'grpc');
  assert.equal(ss[0]!.claim_uid, 'uid-1');
  assert.equal(((await client.ListSessions({ claim: 'other/x' })).sessions as unknown[]).length, 0);

  const stats = await client.GetSessionStats({ session_id: r.session_id });
  assert.equal(stats.state, 'pending');
  await assert.rejects(client.GetSessionStats({ session_id: '424242' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);

  await assert.rejects(client.OpenSession({ ticket: signTicket({ ...payload, node: 'gpu-2' }, key) }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /wrong-node/.test(e.details));
  await assert.rejects(client.OpenSession({ ticket: '' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
  await client.OpenSession({ ticket: signTicket({ ...payload, iat: now + 1 }, key) });
  await assert.rejects(client.OpenSession({ ticket: signTicket({ ...payload, iat: now + 2 }, key) }), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED && /claim-session-limit/.test(e.details));
  assert.ok((await metrics.registry.getSingleMetricAsString('avec_admission_refusals_total')).includes('reason="ticket-wrong-node"} 1'));

  // CloseSession needs the admin token; with it, the reservation ends.
  await assert.rejects(client.CloseSession({ session_id: r.session_id }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
  const closed = await client.CloseSession({ session_id: r.session_id }, admin);
  assert.equal(closed.found, true);
  assert.equal((closed.session as Record<string, unknown>).state, 'exited');
  assert.equal((await client.CloseSession({ session_id: '1' }, admin)).found, false);
});

test('Drain stops admission, flips health to NOT_SERVING and ends reservations', async () => {
  await assert.rejects(client.Drain({}), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
  const d = await client.Drain({ wait_seconds: 1, kill_after_wait: true }, admin);
  assert.equal(d.sessions_remaining, 0);
  assert.equal((await client.Check({ service: 'avec.v1.Control' })).status, 'NOT_SERVING');
  assert.equal((await client.Check({ service: '' })).status, 'SERVING');
  await assert.rejects(client.OpenSession({ ticket: signTicket({ ...payload, claim: 'fresh' }, key) }), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE && /draining/.test(e.details));
  assert.equal((await client.ListSessions({})).draining, true);
});
