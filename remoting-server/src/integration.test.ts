// The whole remoting server in one process against the real executor (emulated backend): addon listener
// + ticket check + executor hand-off, spoken to by a raw data-plane client and the gRPC API.
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlClient, type ControlClient } from './control/control-client.js';
import { CHECKOUT_ROOT, loadAddon } from './native/addon.js';
import type { RunningServer } from './server.js';
import { startTestServer } from './test-server.js';
import { signTicket, type TicketPayload } from '@avec/tickets';
import {
  connectTcp, decodeFrameHeader, decodeHelloReply, encodeFrameHeader, encodeHello, F_REPLY, FrameReader, HELLO_REFUSAL_BYTES, HELLO_REPLY_BYTES, OP_GOODBYE,
  OP_HELLO, OP_PING,
} from './wire/hello-client.js';
import { REFUSAL_CODES } from './wire/refusal.js';

const BAD_TICKET = 0x10003;
const REFUSED = 0x10005;
const key = Buffer.alloc(32, 0x5a);
const nowS = () => Math.floor(Date.now() / 1000);
const ticketFor = (p: Partial<TicketPayload> = {}) =>
  signTicket({ v: 1, kid: 'k1', uid: 'uid-int', ns: 'team', claim: 'job', node: 'gpu-int', dev: '', mem: 64 << 20, cpct: 100, iat: nowS() - 5, exp: nowS() + 600, ...p }, key);

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs testdata/shim-client.c (linked against the real shim) with the shim's default log level. */
function runShimClient(port: number, ticket: string): Promise<{ code: number | null; out: Record<string, string>; stderr: string }> {
  const shimClient = process.env.AVEC_SHIM_CLIENT ?? resolve(CHECKOUT_ROOT, 'build', 'remoting-server', 'shim-client');
  assert.ok(existsSync(shimClient), `${shimClient} is missing: make test-remoting-server builds it`);
  return new Promise((res) => {
    const env: NodeJS.ProcessEnv = { ...process.env, AVEC_SERVER: `127.0.0.1:${port}`, AVEC_TICKET: ticket };
    delete env.AVEC_LOG;
    const p = spawn(shimClient, [], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code, stderr, out: Object.fromEntries(stdout.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string])) }));
  });
}

async function hello(port: number, ticket: string, requestId = 7) {
  const socket = await connectTcp('127.0.0.1', port);
  const reader = new FrameReader(socket);
  socket.write(encodeHello({ ticket, requestId, clientHost: 'it-client' }));
  const frame = await reader.next();
  assert.ok(frame, 'a HELLO reply arrives before the connection closes');
  return { socket, reader, reply: decodeHelloReply(frame) };
}

describe('remoting server + real executor (emulated backend)', () => {
  let server: RunningServer;
  let client: ControlClient;
  let stop: () => Promise<void>;

  before(async () => {
    ({ server, stop } = await startTestServer('gpu-int', key));
    client = controlClient(`127.0.0.1:${server.grpcPort}`);
  });

  after(async () => {
    client?.close();
    await stop?.();
  });

  it('inventory comes from the executor: one emulated device', () => {
    assert.equal(server.inventory.backend, 'emulated');
    assert.ok(server.inventory.devices.length >= 1);
    assert.match(server.inventory.devices[0]!.model, /emulated/i);
  });

  it('admits a good ticket: the executor answers HELLO and PING, and exits when the client goes away', async () => {
    const { socket, reader, reply } = await hello(server.dataPort, ticketFor());
    assert.equal(reply.status, 0, `HELLO status ${reply.status.toString(16)}`);
    assert.equal(reply.header.opcode, OP_HELLO);
    assert.equal(reply.header.requestId, 7);
    assert.ok(reply.header.flags & F_REPLY);
    assert.equal(reply.emulated, true);
    assert.equal(reply.memoryLimit, BigInt(64 << 20), 'the ticket memory limit reached the executor');
    assert.ok(reply.deviceCount >= 1);
    assert.match(reply.deviceNames[0] ?? '', /emulated/i);

    const live = server.sessions.list();
    assert.equal(live.length, 1);
    const s = live[0]!;
    assert.equal(s.state, 'running');
    assert.equal(s.claim, 'team/job');
    assert.equal(BigInt(s.id), reply.sessionId, 'the HELLO reply carries the id the server gave the executor');
    assert.ok(s.executorPid && alive(s.executorPid));

    // The executor serves the data plane itself from here on.
    socket.write(encodeFrameHeader({ opcode: OP_PING, flags: 0, requestId: 8, ctx: 0, payloadLength: 0 }));
    const pong = await reader.next();
    assert.ok(pong);
    assert.equal(decodeFrameHeader(pong).requestId, 8);

    const listed = await client.ListSessions({});
    assert.equal((listed.sessions as Array<{ session_id: string }>)[0]?.session_id, s.id);

    socket.end();
    await waitFor('executor exit', () => server.sessions.get(s.id)?.state === 'exited');
    const ended = server.sessions.get(s.id)!;
    assert.equal(ended.exitCode, 0);
    assert.equal(ended.exitResult, 'clean');
    assert.ok(!alive(s.executorPid), 'the executor process is gone');
    assert.ok(ended.counters.frames >= 2, `executor reported its frame count (${ended.counters.frames})`);
    assert.ok(ended.counters.bytesIn > 0);
    const bytes = await server.metrics.registry.getSingleMetricAsString('avec_session_bytes_total');
    assert.match(bytes, new RegExp(`direction="in"\\} ${ended.counters.bytesIn}`));
    assert.match(await server.metrics.registry.getSingleMetricAsString('avec_executor_exits_total'), /result="clean"\} 1/);
    socket.destroy();
  });

  it('refuses bad tickets with BAD_TICKET plus the reason code and message: bad signature, expired, wrong node, unknown key, malformed', async () => {
    const bad = [
      { t: signTicket({ v: 1, kid: 'k1', uid: 'u', ns: 'team', claim: 'job', node: 'gpu-int', dev: '', mem: 1 << 20, cpct: 100, iat: nowS(), exp: nowS() + 60 }, Buffer.alloc(32, 1)), code: REFUSAL_CODES.TICKET_BAD_SIGNATURE, msg: /signature/ },
      { t: ticketFor({ iat: nowS() - 4000, exp: nowS() - 3600 }), code: REFUSAL_CODES.TICKET_EXPIRED, msg: /expired/ },
      { t: ticketFor({ node: 'gpu-other' }), code: REFUSAL_CODES.TICKET_WRONG_NODE, msg: /gpu-other/ },
      { t: ticketFor({ kid: 'k-retired' }), code: REFUSAL_CODES.TICKET_UNKNOWN_KEY, msg: /k-retired/ },
      { t: 'not-a-ticket', code: REFUSAL_CODES.TICKET_MALFORMED, msg: /three dot-separated parts/ },
    ];
    for (const b of bad) {
      const { reader, reply } = await hello(server.dataPort, b.t, 11);
      assert.equal(reply.status, BAD_TICKET);
      assert.equal(reply.header.requestId, 11);
      assert.equal(reply.header.payloadLength, HELLO_REPLY_BYTES + HELLO_REFUSAL_BYTES + Buffer.byteLength(reply.refusal?.message ?? ''));
      assert.equal(reply.refusal?.reason, b.code, `reason of ${b.t.slice(0, 20)}: ${JSON.stringify(reply.refusal)}`);
      assert.match(reply.refusal?.message ?? '', b.msg);
      await reader.closed();
      reader.socket.destroy();
    }
    assert.equal(server.sessions.list().length, 0, 'no session, no executor');
    const text = await server.metrics.registry.getSingleMetricAsString('avec_admission_refusals_total');
    for (const reason of ['ticket-bad-signature', 'ticket-expired', 'ticket-wrong-node', 'ticket-unknown-kid', 'ticket-malformed']) assert.match(text, new RegExp(`reason="${reason}"\\} 1`));
  });

  it('a ticket for a device this node does not have, or for more memory than it has, is REFUSED with its reason', async () => {
    const cases = [
      { t: ticketFor({ dev: 'GPU-not-here' }), code: REFUSAL_CODES.UNKNOWN_DEVICE, msg: /GPU-not-here is not on this node/ },
      { t: ticketFor({ mem: Number.MAX_SAFE_INTEGER }), code: REFUSAL_CODES.INSUFFICIENT_MEMORY, msg: /grants \d+ bytes/ },
    ];
    for (const c of cases) {
      const { reader, reply } = await hello(server.dataPort, c.t);
      assert.equal(reply.status, REFUSED);
      assert.equal(reply.refusal?.reason, c.code);
      assert.match(reply.refusal?.message ?? '', c.msg);
      reader.socket.destroy();
    }
  });

  it('closes connections whose first frame is not a HELLO', async () => {
    const socket = await connectTcp('127.0.0.1', server.dataPort);
    const reader = new FrameReader(socket);
    socket.write(Buffer.alloc(200, 0x41));
    await reader.closed();
    socket.destroy();
    await waitFor('refusal metric', () => true);
    const text = await server.metrics.registry.getSingleMetricAsString('avec_admission_refusals_total');
    assert.match(text, /reason="frame-bad-magic"\} 1/);
  });

  it('OpenSession reserves a session that the data connection with the same ticket takes over; CloseSession ends it', async () => {
    const ticket = ticketFor({ claim: 'reserved' });
    const opened = await client.OpenSession({ ticket });
    // Two connections with that ticket at once: exactly one takes the reservation (and its id).
    const both = await Promise.all([hello(server.dataPort, ticket), hello(server.dataPort, ticket)]);
    assert.deepEqual(both.map((b) => b.reply.status), [0, 0]);
    const mine = both.find((b) => String(b.reply.sessionId) === opened.session_id);
    const other = both.find((b) => String(b.reply.sessionId) !== opened.session_id);
    assert.ok(mine && other, `ids ${both.map((b) => b.reply.sessionId).join(',')} vs reservation ${opened.session_id}`);
    other.socket.end();
    const { socket, reader } = mine;
    const s = server.sessions.get(String(opened.session_id))!;
    assert.equal(s.state, 'running');
    assert.equal(s.source, 'grpc');

    const closed = await client.CloseSession({ session_id: opened.session_id });
    assert.equal(closed.found, true);
    assert.equal((closed.session as { state: string }).state, 'exited');
    await reader.closed(); // the executor is gone, so is the connection
    assert.ok(!alive(s.executorPid!));
    socket.destroy();
  });

  it('a session that says GOODBYE ends cleanly', async () => {
    const { socket, reader, reply } = await hello(server.dataPort, ticketFor({ claim: 'bye' }));
    assert.equal(reply.status, 0);
    socket.write(encodeFrameHeader({ opcode: OP_GOODBYE, flags: 0, requestId: 0, ctx: 0, payloadLength: 0 }));
    await reader.closed();
    const id = String(reply.sessionId);
    await waitFor('exit', () => server.sessions.get(id)?.state === 'exited');
    assert.equal(server.sessions.get(id)?.exitResult, 'clean');
    socket.destroy();
  });

  it('ten concurrent HELLOs of one claim: eight admitted (per-claim limit), two refused; no fd leaks afterwards', async () => {
    const { readdirSync } = await import('node:fs');
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    const ticket = ticketFor({ claim: 'many' });
    const results = await Promise.all(Array.from({ length: 10 }, () => hello(server.dataPort, ticket)));
    const statuses = results.map((r) => r.reply.status).sort();
    assert.deepEqual(statuses, [0, 0, 0, 0, 0, 0, 0, 0, REFUSED, REFUSED]);
    for (const r of results.filter((x) => x.reply.status === REFUSED)) {
      assert.equal(r.reply.refusal?.reason, REFUSAL_CODES.CLAIM_SESSION_LIMIT);
      assert.match(r.reply.refusal?.message ?? '', /claim team\/many has 8 sessions \(limit 8\)/);
    }
    assert.equal(server.sessions.list({ claim: 'team/many' }).length, 8);
    assert.match(await server.metrics.registry.getSingleMetricAsString('avec_claim_sessions'), /claim="team\/many"\} 8/);

    // An NVML (info-only) session of the same claim is still admitted: it holds no GPU memory.
    const info = await connectTcp('127.0.0.1', server.dataPort);
    const infoReader = new FrameReader(info);
    info.write(encodeHello({ ticket, flags: 0x1 /* AVEC_HELLO_INFO_ONLY */ }));
    const infoReply = decodeHelloReply((await infoReader.next())!);
    assert.equal(infoReply.status, 0);
    assert.equal(server.sessions.get(String(infoReply.sessionId))?.infoOnly, true);
    assert.equal((await client.GetSessionStats({ session_id: String(infoReply.sessionId) })).info_only, true);
    info.end();
    results.push({ socket: info, reader: infoReader, reply: infoReply });

    for (const r of results) r.socket.end();
    await waitFor('all executors exit', () => server.sessions.list({ claim: 'team/many' }).length === 0);
    for (const r of results) r.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(fds() <= before, `fds before ${before}, after ${fds()}`);
    const exits = server.sessions.list({ claim: 'team/many', includeEnded: true });
    assert.equal(exits.length, 9);
    assert.ok(exits.every((e) => e.exitResult === 'clean'));
  });

  it('the real shim (libcuda.so.1) gets a session through the server: device, memory limit, copies, OOM past the limit', async () => {
    const run = (ticket: string) => runShimClient(server.dataPort, ticket);
    const ok = await run(ticketFor({ claim: 'shim', mem: 32 << 20 }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.out.init, '0');
    assert.equal(ok.out.count, '1');
    assert.match(ok.out.name ?? '', /emulated/);
    assert.equal(ok.out.total, String(32 << 20), 'cuMemGetInfo reports the ticket limit');
    for (const k of ['retain', 'current', 'meminfo', 'alloc', 'htod', 'dtoh', 'free']) assert.equal(ok.out[k], '0', k);
    assert.equal(ok.out.roundtrip, 'ok');
    assert.equal(ok.out.alloc_over_limit, '2', 'CUDA_ERROR_OUT_OF_MEMORY past the limit');
    await waitFor('shim session end', () => server.sessions.list({ claim: 'team/shim' }).length === 0);
    const ended = server.sessions.list({ claim: 'team/shim', includeEnded: true });
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.exitResult, 'clean');

    const refused = await run(ticketFor({ claim: 'shim', node: 'elsewhere' }));
    assert.notEqual(refused.code, 0);
    assert.ok(refused.out.init !== undefined && refused.out.init !== '0', 'cuInit fails when the ticket is refused');
    assert.equal(refused.out.init, '100', 'CUDA_ERROR_NO_DEVICE, as documented for a refused ticket');
    // Exactly one line at the default log level, naming the endpoint and the server's reason.
    const lines = refused.stderr.trim().split('\n');
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(lines[0]!, new RegExp(`^avec\\[\\d+\\] error: server 127\\.0\\.0\\.1:${server.dataPort} refused the session: ticket is for node "elsewhere", this is "gpu-int"$`));
  });

  it("the addon's NVML telemetry reads the shim's libnvidia-ml.so.1 through this server (an info-only session)", async () => {
    const nvml = resolve(CHECKOUT_ROOT, 'build', 'shim', 'libnvidia-ml.so.1');
    assert.ok(existsSync(nvml), `${nvml} is missing: make shim`);
    const addon = loadAddon();
    // The shim reads its endpoint and ticket from the environment at nvmlInit.
    const ticket = ticketFor({ claim: 'nvml', mem: 48 << 20 });
    Object.assign(process.env, { AVEC_SERVER: `127.0.0.1:${server.dataPort}`, AVEC_TICKET: ticket, AVEC_LOG: 'error' });
    try {
      const t = await addon.readTelemetry(nvml);
      assert.equal(t.available, true, t.reason ?? '');
      assert.equal(t.devices.length, server.inventory.devices.length);
      assert.equal(t.devices[0]!.uuid, server.inventory.devices[0]!.uuid, 'NVML and --describe agree on the UUID');
      assert.match(t.devices[0]!.name, /emulated/);
      assert.equal(t.devices[0]!.memoryTotalBytes, 48 << 20, 'NVML reports the claim limit');
      const live = server.sessions.list({ claim: 'team/nvml' });
      assert.equal(live.length, 1);
      assert.equal(live[0]!.infoOnly, true);
      assert.equal((await addon.readTelemetry(nvml)).available, true, 'stays loaded between reads');
      assert.equal(server.sessions.list({ claim: 'team/nvml' }).length, 1, 'one NVML session, not one per read');
    } finally {
      assert.equal(addon.shutdownTelemetry(), true);
      for (const k of ['AVEC_SERVER', 'AVEC_TICKET', 'AVEC_LOG']) delete process.env[k];
    }
    await waitFor('NVML session end', () => server.sessions.list({ claim: 'team/nvml' }).length === 0);
  });

  it('Drain stops admission: new HELLOs are refused, health reports NOT_SERVING', async () => {
    await client.Drain({ wait_seconds: 0 });
    assert.equal((await client.Check({ service: 'avec.v1.Control' })).status, 'NOT_SERVING');
    const { reply, reader } = await hello(server.dataPort, ticketFor({ claim: 'late' }));
    assert.equal(reply.status, REFUSED);
    assert.equal(reply.refusal?.reason, REFUSAL_CODES.DRAINING);
    assert.match(reply.refusal?.message ?? '', /draining/);
    reader.socket.destroy();
    // What a user of the real shim reads on a draining node.
    const shim = await runShimClient(server.dataPort, ticketFor({ claim: 'late-shim' }));
    assert.equal(shim.out.init, '100');
    assert.deepEqual(shim.stderr.trim().split('\n').map((l) => l.replace(/^avec\[\d+\] /, '')), [
      `error: server 127.0.0.1:${server.dataPort} refused the session: this node is draining and admits no new sessions`,
    ]);
    await assert.rejects(client.OpenSession({ ticket: ticketFor({ claim: 'late2' }) }), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });
});
