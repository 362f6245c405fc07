// Session tickets, format avec1 (docs/tickets.md):
//   avec1.<b64url(payload json)>.<b64url(HMAC-SHA256(key, "avec1." + b64url(payload json)))>
// Verification is pure: keyring, node name, clock and skew come in as arguments.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Keyring } from './keyring.js';

export const TICKET_PREFIX = 'avec1';
export const MAX_TICKET_BYTES = 4096; // AVEC_MAX_TICKET in avec_wire.h
export const DEFAULT_SKEW_SECONDS = 60;

const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const ticketPayloadSchema = z.object({
  v: z.literal(1),
  kid: z.string().min(1),
  uid: z.string().min(1),
  ns: z.string().min(1),
  claim: z.string().min(1),
  node: z.string().min(1),
  dev: z.string(),
  mem: uint,
  cpct: z.number().int().min(1).max(100),
  iat: uint,
  exp: uint,
  /** Optional: concurrent sessions the claim may hold on the node (the server's cap still applies). */
  maxs: z.number().int().min(1).max(1_000_000).optional(),
});
export type TicketPayload = z.infer<typeof ticketPayloadSchema>;
/** What the signer decides; `v` and `kid` come from the format and the keyring. */
export type TicketClaims = Omit<TicketPayload, 'v' | 'kid'>;

/** Why a ticket is refused; the remoting server maps each to a wire reason code (wire/refusal.ts). */
export const TICKET_REFUSALS = [
  'malformed',
  'unsupported-version',
  'unknown-kid',
  'bad-signature',
  'expired',
  'not-yet-valid',
  'wrong-node',
] as const;
export type TicketRefusal = (typeof TICKET_REFUSALS)[number];

export type TicketVerdict =
  | { ok: true; payload: TicketPayload }
  | { ok: false; reason: TicketRefusal; message: string };

export interface VerifyOptions {
  keyring: Keyring;
  /** The GPU node doing the verification; tickets for other nodes are refused. */
  nodeName: string;
  /** Unix seconds. */
  nowSeconds: number;
  skewSeconds?: number;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function refuse(reason: TicketRefusal, message: string): TicketVerdict {
  return { ok: false, reason, message };
}

function mac(key: Uint8Array, signingInput: string): Buffer {
  return createHmac('sha256', key).update(signingInput, 'utf8').digest();
}

export function verifyTicket(ticket: string, opts: VerifyOptions): TicketVerdict {
  // The order of checks is fixed by docs/tickets.md ("Verification"); the first failure is the verdict.
  const skew = opts.skewSeconds ?? DEFAULT_SKEW_SECONDS;
  if (Buffer.byteLength(ticket, 'utf8') > MAX_TICKET_BYTES) return refuse('malformed', 'ticket is too long');
  const parts = ticket.split('.');
  if (parts.length !== 3) return refuse('malformed', 'a ticket has three dot-separated parts');
  const [prefix, body, sig] = parts as [string, string, string];
  if (prefix !== TICKET_PREFIX) return refuse('malformed', 'ticket does not start with avec1.');
  if (!B64URL.test(body) || !B64URL.test(sig)) return refuse('malformed', 'ticket parts are not unpadded base64url');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return refuse('malformed', 'ticket payload is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return refuse('malformed', 'ticket payload is not a JSON object');
  }
  const fields = json as Record<string, unknown>;
  if (typeof fields.kid !== 'string') return refuse('malformed', 'ticket payload has no string kid');
  const key = opts.keyring.get(fields.kid);
  if (!key) return refuse('unknown-kid', `ticket key "${fields.kid}" is not in the keyring`);
  const given = Buffer.from(sig, 'base64url');
  const want = mac(key, `${TICKET_PREFIX}.${body}`);
  // Length first (timingSafeEqual needs equal lengths; the length of a MAC is not secret).
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    return refuse('bad-signature', 'ticket signature does not verify');
  }
  if (fields.v !== 1) return refuse('unsupported-version', `ticket payload version ${String(fields.v)} is not supported`);
  const parsed = ticketPayloadSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return refuse('malformed', `ticket payload: ${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'}`);
  }
  const payload = parsed.data;
  if (payload.node !== opts.nodeName) {
    return refuse('wrong-node', `ticket is for node "${payload.node}", this is "${opts.nodeName}"`);
  }
  if (opts.nowSeconds > payload.exp + skew) return refuse('expired', `ticket expired at ${payload.exp}`);
  if (opts.nowSeconds < payload.iat - skew) return refuse('not-yet-valid', `ticket issued in the future (${payload.iat})`);
  return { ok: true, payload };
}

/** Signs a payload as it is with `key` (`payload.kid` must name it): tests and standalone tooling. */
export function signTicket(payload: TicketPayload, key: Uint8Array): string {
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const sig = mac(key, `${TICKET_PREFIX}.${body}`).toString('base64url');
  return `${TICKET_PREFIX}.${body}.${sig}`;
}

/** Signs with the keyring's current (newest) key; `v` and `kid` are set here. The operator's signer. */
export function signWithKeyring(keyring: Keyring, claims: TicketClaims): string {
  const { kid, key } = keyring.current();
  return signTicket({ v: 1, kid, ...claims }, key);
}

/** Decode without verifying (for the operator's own refresh decisions; never for admission). */
export function peekTicket(ticket: string): TicketPayload | undefined {
  const parts = ticket.split('.');
  if (parts.length !== 3 || parts[0] !== TICKET_PREFIX || !B64URL.test(parts[1]!)) return undefined;
  try {
    const r = ticketPayloadSchema.safeParse(JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** "<ns>/<name>": the key sessions are accounted under. */
export function claimKey(p: Pick<TicketPayload, 'ns' | 'claim'>): string {
  return `${p.ns}/${p.claim}`;
}
