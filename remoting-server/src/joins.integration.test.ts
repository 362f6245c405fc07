// Joined connections through the remoting server (stripes for bulk copies, the callback connection for host
// functions): the addon's listener routes each join to its session's executor over the session's channel,
// refusing unknown sessions itself; the executor checks the token. Raw data-plane clients for the refusals,
// the shim's own bulk_test and hostfn_test for the real thing (emulated backend).
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signTicket, type TicketPayload } from '@avec/tickets';
import { CHECKOUT_ROOT } from './native/addon.js';
import type { RunningServer } from './server.js';
import { startTestServer } from './test-server.js';
import {
  connectTcp, decodeHelloExt, decodeHelloReply, encodeFrameHeader, encodeHello, encodeJoinHello, FRAME_HEADER_BYTES, FrameReader,
} from './wire/hello-client.js';
import { REFUSAL_CODES, STATUS_REFUSED } from './wire/refusal.js';
import {
  FEATURE_CALLBACKS, FEATURE_STRIPES, HELLO_CALLBACKS, HELLO_STRIPES, HELLO_STRIPES_SHIFT, OP_STRIPE_ATTACH, STRIPE_TOKEN_BYTES,
} from './wire/wire-constants.js';

const shimTests = process.env.AVEC_SHIM_TESTS ?? resolve(CHECKOUT_ROOT, 'build', 'shim', 'tests');
const key = Buffer.alloc(32, 0x5b);
const nowS = () => Math.floor(Date.now() / 1000);
const ticketFor = (p: Partial<TicketPayload> = {}) =>
  signTicket({ v: 1, kid: 'k1', uid: 'uid-join', ns: 'team', claim: 'stripes', node: 'gpu-join', dev: '', mem: 256 << 20, cpct: 100, iat: nowS() - 5, exp: nowS() + 600, ...p }, key);

async function joinHello(port: number, sessionId: bigint, token: Buffer, index: number) {
  const socket = await connectTcp('127.0.0.1', port);
  const reader = new FrameReader(socket);
  socket.write(encodeJoinHello({ sessionId, token, index, requestId: 40 + index }));
  return { socket, reader };
}

async function helloReplyOf(reader: FrameReader) {
  const frame = await reader.next();
  assert.ok(frame, 'a HELLO reply arrives before the connection closes');
  return decodeHelloReply(frame);
}

/** Runs one of the shim's test programs against the server, with the ticket in AVEC_TICKET. */
function runShimTest(name: string, args: string[], port: number, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bin = join(shimTests, name);
  assert.ok(existsSync(bin), `${bin} is missing: make test-remoting-server builds it`);
  return new Promise((res) => {
    const p = spawn(bin, args, { env: { ...process.env, AVEC_SERVER: `127.0.0.1:${port}`, AVEC_TICKET: ticketFor(), ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

describe('remoting server routes joined connections (stripes, callback connection)', () => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  before(async () => {
    ({ server, stop } = await startTestServer('gpu-join', key));
  });

  after(async () => {
    await stop?.();
  });

  it('refuses a join naming no session of this server with the stripe refusal, without a ticket check', async () => {
    const { socket, reader } = await joinHello(server.dataPort, 123456789n, randomBytes(STRIPE_TOKEN_BYTES), 0);
    const reply = await helloReplyOf(reader);
    assert.equal(reply.status, STATUS_REFUSED);
    assert.equal(reply.header.requestId, 40);
    assert.deepEqual(reply.refusal, { reason: REFUSAL_CODES.STRIPE_REFUSED, message: 'no such session on this server' });
    socket.destroy();
    assert.equal(server.sessions.list().length, 0, 'a join never starts a session');
  });

  it('offers stripes and host functions; the session takes a join with its token and refuses a wrong token', async () => {
    const main = await connectTcp('127.0.0.1', server.dataPort);
    const mainReader = new FrameReader(main);
    main.write(encodeHello({ ticket: ticketFor(), requestId: 1, flags: HELLO_STRIPES | (2 << HELLO_STRIPES_SHIFT) | HELLO_CALLBACKS }));
    const frame = await mainReader.next();
    assert.ok(frame);
    const reply = decodeHelloReply(frame);
    assert.equal(reply.status, 0);
    const ext = decodeHelloExt(frame);
    assert.ok(ext, 'the reply carries avec_hello_ext');
    assert.ok(ext.features & FEATURE_STRIPES, 'stripes offered behind the remoting server');
    assert.ok(ext.features & FEATURE_CALLBACKS, 'host functions offered behind the remoting server');
    assert.equal(ext.stripes, 2);

    const good = await joinHello(server.dataPort, reply.sessionId, ext.token, 0);
    const wrong = Buffer.from(ext.token);
    wrong[0]! ^= 0xff;
    const bad = await joinHello(server.dataPort, reply.sessionId, wrong, 1);
    const attach = Buffer.alloc(8);
    attach.writeUInt32LE(2, 0);
    main.write(Buffer.concat([encodeFrameHeader({ opcode: OP_STRIPE_ATTACH, flags: 0, requestId: 2, ctx: 0, payloadLength: 8 }), attach]));

    const goodReply = await helloReplyOf(good.reader);
    assert.equal(goodReply.status, 0, 'the right token joins');
    assert.equal(goodReply.sessionId, reply.sessionId);
    const badReply = await helloReplyOf(bad.reader);
    assert.equal(badReply.status, STATUS_REFUSED);
    assert.equal(badReply.refusal?.reason, REFUSAL_CODES.STRIPE_REFUSED);
    assert.match(badReply.refusal?.message ?? '', /token/);
    const attached = await mainReader.next();
    assert.ok(attached);
    assert.equal(attached.readUInt32LE(FRAME_HEADER_BYTES), STATUS_REFUSED, 'one stripe short: the client goes on with one connection');
    for (const s of [good.socket, bad.socket, main]) s.destroy();
    const id = String(reply.sessionId);
    await waitUntil(() => server.sessions.get(id)?.state === 'exited');
    // The session's channel closed with it: a join naming it now is refused by the listener.
    const late = await joinHello(server.dataPort, reply.sessionId, ext.token, 0);
    assert.equal((await helloReplyOf(late.reader)).refusal?.message, 'no such session on this server');
    late.socket.destroy();
  });

  it('a client with AVEC_STRIPES=2 copies over two stripes with correct bytes', async () => {
    const r = await runShimTest('bulk_test', [], server.dataPort, { AVEC_STRIPES: '2', AVEC_LOG: 'info' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /bulk: \d+ passed, 0 failed/);
    assert.match(r.stderr, /stripes: 2 connections attached/);
  });

  it('host functions run on the client through the callback connection', async () => {
    const r = await runShimTest('hostfn_test', ['main'], server.dataPort, { AVEC_LOG: 'info' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /host functions: callback connection attached/);
    assert.doesNotMatch(r.stderr, /not supported in this session/);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
