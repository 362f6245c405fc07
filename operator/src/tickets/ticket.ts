// Session tickets, format avec1 (docs/tickets.md):
//   avec1.<b64url(payload-json)>.<b64url(HMAC-SHA256(key, "avec1." + b64url(payload-json)))>
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Keyring } from './keyring.js';

export const TICKET_PREFIX = 'avec1';
export const CLOCK_SKEW_SECONDS = 60;

const int = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');

export const ticketPayloadSchema = z.object({
  v: z.literal(1),
  kid: z.string().min(1),
  uid: z.string().min(1),
  ns: z.string().min(1),
  claim: z.string().min(1),
  node: z.string().min(1),
  dev: z.string(),
  mem: int.min(0),
  cpct: int.min(1).max(100),
  iat: int,
  exp: int,
});
export type TicketPayload = z.infer<typeof ticketPayloadSchema>;

export type TicketRejection =
  | 'malformed'
  | 'unsupported-version'
  | 'unknown-kid'
  | 'bad-signature'
  | 'wrong-node'
  | 'expired'
  | 'not-yet-valid';

export type TicketVerdict =
  | { ok: true; payload: TicketPayload }
  | { ok: false; reason: TicketRejection; message: string };

const B64URL = /^[A-Za-z0-9_-]*$/;

export function b64url(buf: Buffer | string): string {
  return Buffer.from(buf).toString('base64url');
}

function mac(key: Buffer, signingInput: string): Buffer {
  return createHmac('sha256', key).update(signingInput, 'utf8').digest();
}

/** Sign a payload with the keyring's current key; `payload.kid` is overwritten with that key's id. */
export function signTicket(keyring: Keyring, payload: Omit<TicketPayload, 'kid' | 'v'>): string {
  const { kid, key } = keyring.current();
  const body = b64url(JSON.stringify({ v: 1, kid, ...payload }));
  const input = `${TICKET_PREFIX}.${body}`;
  return `${input}.${b64url(mac(key, input))}`;
}

/** Decode without verifying (for the operator's own refresh decisions; never for admission). */
export function peekTicket(ticket: string): TicketPayload | undefined {
  const parts = ticket.split('.');
  if (parts.length !== 3 || parts[0] !== TICKET_PREFIX || !B64URL.test(parts[1])) return undefined;
  try {
    const r = ticketPayloadSchema.safeParse(JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export interface VerifyOptions {
  keyring: Keyring;
  /** Unix seconds. */
  now: number;
  /** The GPU node doing the verification; tickets for other nodes are refused. */
  node: string;
}

const reject = (reason: TicketRejection, message: string): TicketVerdict => ({ ok: false, reason, message });

export function verifyTicket(ticket: string, opts: VerifyOptions): TicketVerdict {
  const parts = ticket.trim().split('.');
  if (parts.length !== 3 || parts[0] !== TICKET_PREFIX) {
    return reject('malformed', `ticket must be ${TICKET_PREFIX}.<payload>.<mac>`);
  }
  const [, body, sig] = parts;
  if (!B64URL.test(body) || !B64URL.test(sig) || body.length === 0 || sig.length === 0) {
    return reject('malformed', 'ticket parts must be unpadded base64url');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return reject('malformed', 'ticket payload is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return reject('malformed', 'ticket payload is not a JSON object');
  }
  const kid = (raw as { kid?: unknown }).kid;
  if (typeof kid !== 'string') return reject('malformed', 'ticket payload has no kid');
  const key = opts.keyring.get(kid);
  if (key === undefined) return reject('unknown-kid', `ticket key id "${kid}" is not in the keyring`);
  const want = mac(key, `${TICKET_PREFIX}.${body}`);
  const got = Buffer.from(sig, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return reject('bad-signature', 'ticket signature does not match');
  }
  if ((raw as { v?: unknown }).v !== 1) return reject('unsupported-version', 'ticket payload version must be 1');
  const parsed = ticketPayloadSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return reject('malformed', `ticket payload field ${first?.path.join('.') ?? '?'}: ${first?.message ?? 'invalid'}`);
  }
  const p = parsed.data;
  if (p.node !== opts.node) return reject('wrong-node', `ticket is for node "${p.node}", not "${opts.node}"`);
  if (opts.now > p.exp + CLOCK_SKEW_SECONDS) return reject('expired', `ticket expired at ${p.exp}`);
  if (opts.now < p.iat - CLOCK_SKEW_SECONDS) return reject('not-yet-valid', `ticket issued in the future (${p.iat})`);
  return { ok: true, payload: p };
}
