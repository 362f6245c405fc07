// The u64 a session id becomes on the wire (avec_hello_reply.session_id, avec_stripe_join.session_id):
// the executor's session_number (listener.cpp) — the id itself when it is a number strtoull reads whole,
// else the first 8 bytes (little-endian) of its SHA-256. The listener keys join channels by it.
import { createHash } from 'node:crypto';

const U64_MAX = (1n << 64n) - 1n;

export function sessionNumber(id: string): bigint {
  // strtoull(id, &end, 0): leading blanks, an optional sign ('-' refused by the executor), 0x hex, 0 octal.
  const m = /^[ \t\n\v\f\r]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(id);
  if (m && !id.startsWith('-')) {
    const t = m[1]!;
    const v = /^0[xX]/.test(t) ? BigInt(t) : t.length > 1 && t.startsWith('0') ? BigInt(`0o${t.slice(1)}`) : BigInt(t);
    if (v <= U64_MAX) return v;
  }
  return createHash('sha256').update(id, 'utf8').digest().readBigUInt64LE(0);
}
