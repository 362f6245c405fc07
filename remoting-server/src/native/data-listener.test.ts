// The addon's data-plane listener on loopback: HELLO peeking (split across writes), refusal replies,
// hand-off bookkeeping, timeouts, malformed first frames. No executor involved.
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { test } from 'node:test';
import { connectTcp, decodeHelloReply, encodeFrameHeader, encodeHello, encodeJoinHello, FrameReader } from '../wire/hello-client.js';
import { JOIN_CALLBACKS } from '../wire/wire-constants.js';
import { loadAddon, type ListenerEvent } from './addon.js';

const addon = loadAddon();

function listen(opts: { helloTimeoutMs?: number; maxPending?: number; maxPendingPerPeer?: number } = {}) {
  const events: ListenerEvent[] = [];
  const waiters: Array<() => void> = [];
  const l = new addon.DataListener({ ...opts, helloTimeoutMs: opts.helloTimeoutMs ?? 2000 }, (ev) => {
    events.push(ev);
    for (const w of waiters.splice(0)) w();
  });
  const { port } = l.start('127.0.0.1', 0);
  const next = async (): Promise<ListenerEvent> => {
    while (events.length === 0) await new Promise<void>((r) => waiters.push(r));
    return events.shift()!;
  };
  return { l, port, next };
}

test('parseHelloForTest classifies frames like the listener does', () => {
  const good = encodeHello({ ticket: 'abc', clientPid: 42, clientHost: 'h', requestId: 9 });
  assert.deepEqual(addon.parseHelloForTest(good), { status: 'complete', ticket: 'abc', clientPid: 42, clientHost: 'h', requestId: 9, frameLength: good.length });
  assert.deepEqual(addon.parseHelloForTest(good.subarray(0, 30)), { status: 'need-more', need: 104 });
  assert.deepEqual(addon.parseHelloForTest(good.subarray(0, 105)), { status: 'need-more', need: 107 });
  const badMagic = Buffer.from(good);
  badMagic.writeUInt32LE(1, 0);
  assert.equal(addon.parseHelloForTest(badMagic).status, 'bad-magic');
  const v2 = Buffer.from(good);
  v2.writeUInt16LE(2, 4);
  assert.equal(addon.parseHelloForTest(v2).status, 'bad-version');
  const ping = Buffer.from(good);
  ping.writeUInt16LE(3, 6);
  assert.equal(addon.parseHelloForTest(ping).status, 'bad-opcode');
  const lenMismatch = Buffer.from(good);
  lenMismatch.writeUInt32LE(80 + 4, 20);
  assert.equal(addon.parseHelloForTest(lenMismatch).status, 'bad-length');
  const huge = encodeHello({ ticket: 'x'.repeat(5000) });
  assert.equal(addon.parseHelloForTest(huge).status, 'bad-length');
});

test('a HELLO split across writes is peeked whole; refuse answers with the status and the request id', async () => {
  const { l, port, next } = listen();
  try {
    const s = await connectTcp('127.0.0.1', port);
    const reader = new FrameReader(s);
    const hello = encodeHello({ ticket: 't'.repeat(300), clientPid: 1234, clientHost: 'edge-7', requestId: 77 });
    s.write(hello.subarray(0, 10));
    await new Promise((r) => setTimeout(r, 30));
    s.write(hello.subarray(10, 150));
    await new Promise((r) => setTimeout(r, 30));
    s.write(hello.subarray(150));
    const ev = await next();
    assert.equal(ev.type, 'connection');
    if (ev.type !== 'connection') return;
    assert.equal(ev.ticket, 't'.repeat(300));
    assert.equal(ev.clientPid, 1234);
    assert.equal(ev.clientHost, 'edge-7');
    assert.equal(ev.requestId, 77);
    assert.equal(ev.peerAddress, '127.0.0.1');
    assert.ok(ev.fd > 2);
    assert.equal(l.stats().awaitingDecision, 1);
    assert.equal(l.refuse(ev.id, addon.status.BAD_TICKET), true);
    assert.equal(l.refuse(ev.id, addon.status.BAD_TICKET), false, 'a decided connection cannot be decided again');
    const reply = decodeHelloReply((await reader.next())!);
    assert.equal(reply.status, addon.status.BAD_TICKET);
    assert.equal(reply.header.requestId, 77);
    await reader.closed();
    s.destroy();
    assert.equal(l.stats().awaitingDecision, 0);
  } finally {
    l.stop();
  }
});

test('refuse with a reason appends avec_hello_refusal; a long message is cut to 256 bytes at a UTF-8 boundary', async () => {
  const { l, port, next } = listen();
  try {
    // 255 ASCII bytes then a 2-byte character: 257 bytes, so the cut must drop the whole character.
    const long = 'x'.repeat(255) + 'é' + 'tail';
    const cases = [
      { status: addon.status.REFUSED, reason: addon.refusal.DRAINING!, message: 'this node is draining', want: 'this node is draining' },
      { status: addon.status.BAD_TICKET, reason: addon.refusal.TICKET_EXPIRED!, message: long, want: 'x'.repeat(255) },
      { status: addon.status.REFUSED, reason: addon.refusal.NODE_SESSION_LIMIT!, message: undefined, want: '' },
    ];
    for (const c of cases) {
      const s = await connectTcp('127.0.0.1', port);
      const reader = new FrameReader(s);
      s.write(encodeHello({ ticket: 'tk', requestId: 5 }));
      const ev = await next();
      assert.equal(l.refuse(ev.id, c.status, c.reason, c.message), true);
      const frame = (await reader.next())!;
      const reply = decodeHelloReply(frame);
      assert.equal(reply.status, c.status);
      assert.equal(reply.header.requestId, 5);
      assert.equal(reply.header.payloadLength, 40 + 8 + Buffer.byteLength(c.want));
      assert.deepEqual(reply.refusal, { reason: c.reason, message: c.want });
      await reader.closed();
      s.destroy();
    }
    assert.equal(addon.maxRefusalMessage, 256);
  } finally {
    l.stop();
  }
});

test('release closes only the listener copy: the bytes stay readable through a dup of the fd', async () => {
  const { l, port, next } = listen();
  try {
    const s = await connectTcp('127.0.0.1', port);
    s.write(encodeHello({ ticket: 'x' }));
    const ev = await next();
    assert.equal(ev.type, 'connection');
    if (ev.type !== 'connection') return;
    assert.equal(l.release(ev.id), true);
    assert.equal(l.release(ev.id), false);
    // With the listener's copy closed and nobody else holding the socket, the peer sees the close.
    await new FrameReader(s).closed();
    s.destroy();
  } finally {
    l.stop();
  }
});

test('a silent connection is dropped after the HELLO timeout; garbage is rejected at once', async () => {
  const { l, port, next } = listen({ helloTimeoutMs: 150 });
  try {
    const quiet = await connectTcp('127.0.0.1', port);
    const t0 = Date.now();
    const ev = await next();
    assert.deepEqual([ev.type, ev.type === 'rejected' && ev.reason], ['rejected', 'hello-timeout']);
    assert.ok(Date.now() - t0 >= 100, 'not before the timeout');
    const quietReader = new FrameReader(quiet);
    const late = decodeHelloReply((await quietReader.next())!);  // told why before the close
    assert.equal(late.status, addon.status.REFUSED);
    assert.equal(late.refusal?.reason, addon.refusal.HELLO_TIMEOUT);
    await quietReader.closed();
    quiet.destroy();

    const junk = await connectTcp('127.0.0.1', port);
    junk.write(encodeFrameHeader({ magic: 0xdeadbeef, opcode: 1, flags: 0, requestId: 1, ctx: 0, payloadLength: 0 }));
    junk.write(Buffer.alloc(100));
    const ev2 = await next();
    assert.deepEqual([ev2.type, ev2.type === 'rejected' && ev2.reason], ['rejected', 'bad-magic']);
    junk.destroy();

    const early = await connectTcp('127.0.0.1', port);
    early.end(Buffer.alloc(10));
    const ev3 = await next();
    assert.deepEqual([ev3.type, ev3.type === 'rejected' && ev3.reason], ['rejected', 'closed-before-hello']);
    early.destroy();
    const st = l.stats();
    assert.equal(st.accepted, 3);
    assert.equal(st.rejected, 3);
  } finally {
    l.stop();
  }
});

test('connections waiting for their HELLO are capped, per address and overall, with a reason', async () => {
  const { l, port, next } = listen({ maxPendingPerPeer: 2, maxPending: 3 });
  try {
    const quiet = [await connectTcp('127.0.0.1', port), await connectTcp('127.0.0.1', port)];
    await new Promise((r) => setTimeout(r, 50));
    const third = await connectTcp('127.0.0.1', port);
    const ev = await next();
    assert.deepEqual([ev.type, ev.type === 'rejected' && ev.reason], ['rejected', 'too-many-pending-from-peer']);
    const reply = decodeHelloReply((await new FrameReader(third).next())!);
    assert.equal(reply.status, addon.status.REFUSED);
    assert.equal(reply.refusal?.reason, addon.refusal.TOO_MANY_CONNECTIONS);
    assert.match(reply.refusal?.message ?? '', /limit 2/);
    third.destroy();
    assert.equal(l.stats().rejected, 1);
    for (const s of quiet) s.destroy();
  } finally {
    l.stop();
  }
});

test('a wrong wire version gets a VERSION reply', async () => {
  const { l, port, next } = listen();
  try {
    const s = await connectTcp('127.0.0.1', port);
    const reader = new FrameReader(s);
    const hello = encodeHello({ ticket: 'x', requestId: 5 });
    hello.writeUInt16LE(9, 4);
    s.write(hello);
    const ev = await next();
    assert.equal(ev.type === 'rejected' && ev.reason, 'bad-version');
    const reply = decodeHelloReply((await reader.next())!);
    assert.equal(reply.status, addon.status.VERSION);
    assert.equal(reply.header.requestId, 5);
    s.destroy();
  } finally {
    l.stop();
  }
});

test('IPv6: the listener binds [::1] and reports the peer as an IPv6 address', async () => {
  const events: ListenerEvent[] = [];
  let wake: () => void = () => {};
  const l = new addon.DataListener({}, (ev) => {
    events.push(ev);
    wake();
  });
  try {
    const { address, port } = l.start('::1', 0);
    assert.equal(address, '::1');
    const s = await connectTcp('::1', port);
    s.write(encodeHello({ ticket: 'v6' }));
    while (events.length === 0) await new Promise<void>((r) => (wake = r));
    const ev = events[0]!;
    assert.equal(ev.type, 'connection');
    assert.equal(ev.peerAddress, '::1');
    assert.equal(l.refuse(ev.id, addon.status.BAD_TICKET), true);
    s.destroy();
  } finally {
    l.stop();
  }
});

test('binding a port in use throws at start, not later', () => {
  const a = new addon.DataListener({}, () => {});
  const b = new addon.DataListener({}, () => {});
  try {
    const { port } = a.start('127.0.0.1', 0);
    assert.throws(() => b.start('127.0.0.1', port), /Address already in use/);
  } finally {
    a.stop();
    b.stop();
  }
});

test('telemetry resolves without NVML and says why', async () => {
  const t = await addon.readTelemetry('/nonexistent/libnvidia-ml.so.1');
  assert.equal(t.available, false);
  assert.match(t.reason ?? '', /cannot load \/nonexistent\/libnvidia-ml.so.1/);
  assert.deepEqual(t.devices, []);
  assert.equal(addon.shutdownTelemetry(), false, 'nothing was loaded');
});

test('joins: routed to the session named, decoded by the executor rules, never sent to admission', async () => {
  const { l, port, next } = listen();
  const token = Buffer.alloc(32, 7);
  const refusal = async (frame: Buffer) => {
    const s = await connectTcp('127.0.0.1', port);
    const reader = new FrameReader(s);
    s.write(frame);
    const reply = decodeHelloReply((await reader.next())!);
    s.destroy();
    assert.equal(reply.status, addon.status.REFUSED);
    assert.equal(reply.refusal?.reason, addon.refusal.STRIPE_REFUSED);
    const ev = await next();
    assert.deepEqual(ev.type === 'rejected' && ev.reason, 'stripe-refused');
    return reply.refusal?.message;
  };
  try {
    assert.throws(() => l.openJoinChannel('12x', 's'), TypeError);
    assert.throws(() => l.openJoinChannel('0', 's'), TypeError);
    const execEnd = l.openJoinChannel('77', 'sess-77');
    assert.ok(execEnd > 2);
    assert.throws(() => l.openJoinChannel('77', 'again'), /already has a join channel/);
    assert.equal(l.stats().joinChannels, 1);

    // Routed: nothing comes back on the connection from the listener (the session answers its HELLO).
    const s = await connectTcp('127.0.0.1', port);
    s.write(encodeJoinHello({ sessionId: 77n, token, index: JOIN_CALLBACKS }));
    const ev = await next();
    assert.deepEqual(ev.type === 'joined' && [ev.sessionId, ev.index], ['sess-77', JOIN_CALLBACKS]);
    assert.equal(l.stats().joinsRouted, 1);
    assert.equal(l.stats().handedToJs, 0, 'a join never reaches ticket admission');
    s.destroy();

    assert.equal(await refusal(encodeJoinHello({ sessionId: 78n, token, index: 0 })), 'no such session on this server');
    assert.equal(await refusal(encodeJoinHello({ sessionId: 77n, token, index: 8 })), 'stripe index out of range');
    assert.equal(await refusal(encodeJoinHello({ sessionId: 0n, token, index: 0 })), 'stripe join without a session id');
    const short = encodeJoinHello({ sessionId: 77n, token, index: 0 }).subarray(0, 24 + 80 + 40);
    short.writeUInt32LE(80 + 40, 20);
    short.writeUInt32LE(40, 24 + 12);
    assert.equal(await refusal(short), 'stripe join of the wrong length');

    assert.equal(l.closeJoinChannel('77'), true);
    assert.equal(l.closeJoinChannel('77'), false);
    assert.equal(await refusal(encodeJoinHello({ sessionId: 77n, token, index: 0 })), 'no such session on this server');
    assert.equal(l.stats().joinsRefused, 5);
    closeSync(execEnd);
  } finally {
    l.stop();
  }
});

test('joins: a session whose executor end is gone refuses them', async () => {
  const { l, port, next } = listen();
  try {
    closeSync(l.openJoinChannel('5', 'five'));  // as if the executor had exited before the server noticed
    const s = await connectTcp('127.0.0.1', port);
    const reader = new FrameReader(s);
    s.write(encodeJoinHello({ sessionId: 5n, token: Buffer.alloc(32), index: 1 }));
    const reply = decodeHelloReply((await reader.next())!);
    assert.deepEqual(reply.refusal, { reason: addon.refusal.STRIPE_REFUSED, message: 'the session does not take stripe connections now' });
    assert.equal((await next()).type, 'rejected');
    s.destroy();
  } finally {
    l.stop();
  }
});
