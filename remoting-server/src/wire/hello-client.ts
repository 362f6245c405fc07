// A minimal data-plane client: sends HELLO and reads the HELLO reply (avec_wire.h). For tests and probes;
// the real client is the shim.
import { connect, type Socket } from 'node:net';

import {
  DEVICE_INFO_BYTES, F_REPLY, FRAME_HEADER_BYTES, HELLO_BYTES, HELLO_EXT_BYTES, HELLO_REFUSAL_BYTES, HELLO_REPLY_BYTES, HELLO_STRIPE_JOIN, OP_GOODBYE, OP_HELLO, OP_PING,
  STRIPE_JOIN_BYTES, STRIPE_TOKEN_BYTES, WIRE_MAGIC, WIRE_VERSION,
} from './wire-constants.js';

// Magic, opcodes and frame sizes come from wire/avec_wire.h (wire-constants.ts is generated from it).
export { DEVICE_INFO_BYTES, F_REPLY, FRAME_HEADER_BYTES, HELLO_BYTES, HELLO_REFUSAL_BYTES, HELLO_REPLY_BYTES, OP_GOODBYE, OP_HELLO, OP_PING, WIRE_MAGIC, WIRE_VERSION };

export interface FrameHeader {
  magic: number;
  version: number;
  opcode: number;
  flags: number;
  requestId: number;
  ctx: number;
  payloadLength: number;
}

export function encodeFrameHeader(h: Omit<FrameHeader, 'magic' | 'version'> & Partial<FrameHeader>): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32LE(h.magic ?? WIRE_MAGIC, 0);
  b.writeUInt16LE(h.version ?? WIRE_VERSION, 4);
  b.writeUInt16LE(h.opcode, 6);
  b.writeUInt32LE(h.flags, 8);
  b.writeUInt32LE(h.requestId, 12);
  b.writeUInt32LE(h.ctx, 16);
  b.writeUInt32LE(h.payloadLength, 20);
  return b;
}

export function decodeFrameHeader(b: Buffer): FrameHeader {
  return {
    magic: b.readUInt32LE(0),
    version: b.readUInt16LE(4),
    opcode: b.readUInt16LE(6),
    flags: b.readUInt32LE(8),
    requestId: b.readUInt32LE(12),
    ctx: b.readUInt32LE(16),
    payloadLength: b.readUInt32LE(20),
  };
}

export interface HelloRequest {
  ticket: string;
  clientPid?: number;
  clientHost?: string;
  flags?: number;
  requestId?: number;
  wireVersion?: number;
}

export function encodeHello(r: HelloRequest): Buffer {
  const ticket = Buffer.from(r.ticket, 'utf8');
  const hello = Buffer.alloc(HELLO_BYTES);
  hello.writeUInt32LE(r.wireVersion ?? WIRE_VERSION, 0);
  hello.writeUInt32LE(r.flags ?? 0, 4);
  hello.writeUInt32LE(r.clientPid ?? process.pid, 8);
  hello.writeUInt32LE(ticket.length, 12);
  hello.write((r.clientHost ?? 'avec-test').slice(0, 63), 16, 'utf8');
  const hdr = encodeFrameHeader({ opcode: OP_HELLO, flags: 0, requestId: r.requestId ?? 1, ctx: 0, payloadLength: HELLO_BYTES + ticket.length });
  return Buffer.concat([hdr, hello, ticket]);
}

/** A joined connection's HELLO (AVEC_HELLO_STRIPE_JOIN): avec_stripe_join instead of a ticket. */
export function encodeJoinHello(j: { sessionId: bigint; token: Buffer; index: number; requestId?: number }): Buffer {
  const tail = Buffer.alloc(STRIPE_JOIN_BYTES);
  tail.writeBigUInt64LE(j.sessionId, 0);
  j.token.copy(tail, 8, 0, STRIPE_TOKEN_BYTES);
  tail.writeUInt32LE(j.index >>> 0, 8 + STRIPE_TOKEN_BYTES);
  const hello = Buffer.alloc(HELLO_BYTES);
  hello.writeUInt32LE(WIRE_VERSION, 0);
  hello.writeUInt32LE(HELLO_STRIPE_JOIN, 4);
  hello.writeUInt32LE(process.pid, 8);
  hello.writeUInt32LE(tail.length, 12);
  hello.write('avec-test', 16, 'utf8');
  const hdr = encodeFrameHeader({ opcode: OP_HELLO, flags: 0, requestId: j.requestId ?? 1, ctx: 0, payloadLength: HELLO_BYTES + tail.length });
  return Buffer.concat([hdr, hello, tail]);
}

/** avec_hello_reply.features and the avec_hello_ext after the device infos, when the reply has them. */
export function decodeHelloExt(frame: Buffer): { features: number; stripes: number; token: Buffer } | undefined {
  const p = frame.subarray(FRAME_HEADER_BYTES);
  if (p.length < HELLO_REPLY_BYTES) return undefined;
  const features = p.readUInt32LE(36);
  const at = HELLO_REPLY_BYTES + p.readUInt32LE(28) * DEVICE_INFO_BYTES;
  if (!features || p.length < at + HELLO_EXT_BYTES) return undefined;
  return { features, stripes: p.readUInt32LE(at), token: Buffer.from(p.subarray(at + 8, at + 8 + STRIPE_TOKEN_BYTES)) };
}

export interface HelloReply {
  header: FrameHeader;
  status: number;
  sessionId: bigint;
  memoryLimit: bigint;
  driverVersion: number;
  deviceCount: number;
  emulated: boolean;
  deviceNames: string[];
  /** avec_hello_refusal of a refused HELLO, when the reply carries a consistent one. */
  refusal?: { reason: number; message: string };
}

/** The avec_hello_refusal tail after avec_hello_reply (payload `p`), or undefined if absent or inconsistent. */
export function decodeHelloRefusal(p: Buffer): { reason: number; message: string } | undefined {
  if (p.length < HELLO_REPLY_BYTES + HELLO_REFUSAL_BYTES) return undefined;
  const reason = p.readUInt32LE(HELLO_REPLY_BYTES);
  const len = p.readUInt32LE(HELLO_REPLY_BYTES + 4);
  const start = HELLO_REPLY_BYTES + HELLO_REFUSAL_BYTES;
  if (len > 256 || start + len > p.length) return undefined;
  return { reason, message: p.subarray(start, start + len).toString('utf8') };
}

export function decodeHelloReply(frame: Buffer): HelloReply {
  const header = decodeFrameHeader(frame);
  const p = frame.subarray(FRAME_HEADER_BYTES);
  const deviceCount = p.length >= HELLO_REPLY_BYTES ? p.readUInt32LE(28) : 0;
  const deviceNames: string[] = [];
  for (let i = 0; i < deviceCount && HELLO_REPLY_BYTES + (i + 1) * DEVICE_INFO_BYTES <= p.length; i++) {
    const name = p.subarray(HELLO_REPLY_BYTES + i * DEVICE_INFO_BYTES, HELLO_REPLY_BYTES + i * DEVICE_INFO_BYTES + 256);
    deviceNames.push(name.subarray(0, Math.max(0, name.indexOf(0))).toString('utf8'));
  }
  return {
    header,
    status: p.readUInt32LE(0),
    sessionId: p.length >= 16 ? p.readBigUInt64LE(8) : 0n,
    memoryLimit: p.length >= 24 ? p.readBigUInt64LE(16) : 0n,
    driverVersion: p.length >= 28 ? p.readUInt32LE(24) : 0,
    deviceCount,
    emulated: p.length >= 36 ? p.readUInt32LE(32) === 1 : false,
    deviceNames,
    refusal: deviceCount === 0 ? decodeHelloRefusal(p) : undefined,
  };
}

/** Reads whole frames from a socket. */
export class FrameReader {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private ended = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The next frame (header + payload), or undefined when the connection ended first. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.buf.length >= FRAME_HEADER_BYTES) {
        const len = FRAME_HEADER_BYTES + this.buf.readUInt32LE(20);
        if (this.buf.length >= len) {
          const f = this.buf.subarray(0, len);
          this.buf = this.buf.subarray(len);
          return f;
        }
      }
      if (this.ended) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Resolves when the peer has closed the connection. */
  async closed(): Promise<void> {
    while (!this.ended) await new Promise<void>((r) => this.waiters.push(r));
  }
}

export function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => {
      s.off('error', reject);
      s.on('error', () => {}); // resets surface as 'close'; readers watch that
      resolve(s);
    });
    s.once('error', reject);
  });
}
