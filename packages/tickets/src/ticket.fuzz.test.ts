// Property/fuzz loop over the ticket parser: seeded random mutations of valid tickets and of the corpus
// in testdata/fuzz (one ticket per file), for AVEC_FUZZ_MS (default 2000) milliseconds. verifyTicket must
// never throw, must answer one of the documented reasons, and may accept only a ticket whose signed
// bytes decode to the payload that was signed. A failing input is printed with the seed to reproduce it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Keyring } from './keyring.js';
import { peekTicket, signTicket, TICKET_REFUSALS, verifyTicket, type TicketPayload } from './ticket.js';

const key = new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef'));
const keyring = new Keyring(new Map([['k1', key]]));
const now = 1_800_000_000;
const opts = { keyring, nodeName: 'gpu-1', nowSeconds: now };
const base: TicketPayload = { v: 1, kid: 'k1', uid: 'u', ns: 'n', claim: 'c', node: 'gpu-1', dev: '', mem: 1 << 20, cpct: 100, iat: now, exp: now + 60 };
const budgetMs = Number(process.env.AVEC_FUZZ_MS ?? 2000);
const seed = Number(process.env.AVEC_FUZZ_SEED ?? 0x5eed);

/** mulberry32: small, seedable, good enough to drive mutations reproducibly. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/{}":,\u00e9\u0000 ';
const FIELD_VALUES: unknown[] = [0, -1, 1.5, 100, 101, 2 ** 53, '', 'x', null, true, [], {}, 'gpu-1', now, 'GPU-x'];

function mutateString(s: string, r: () => number): string {
  const i = Math.floor(r() * (s.length + 1));
  const c = ALPHABET[Math.floor(r() * ALPHABET.length)]!;
  switch (Math.floor(r() * 4)) {
    case 0: return s.slice(0, i) + c + s.slice(i);
    case 1: return s.slice(0, i) + s.slice(i + 1);
    case 2: return s.slice(0, i) + c + s.slice(i + 1);
    default: return s.slice(0, i) + s.slice(Math.floor(r() * s.length));
  }
}

/** A validly signed ticket over a randomly changed payload (fields dropped, retyped, added). */
function signedVariant(r: () => number): { ticket: string; payload: Record<string, unknown> } {
  const p: Record<string, unknown> = { ...base };
  const keys = [...Object.keys(base), 'maxs', 'extra'];
  for (let n = Math.floor(r() * 3); n > 0; n--) {
    const k = keys[Math.floor(r() * keys.length)]!;
    if (r() < 0.3 && k !== 'kid') delete p[k];
    else if (k !== 'kid') p[k] = FIELD_VALUES[Math.floor(r() * FIELD_VALUES.length)];
  }
  return { ticket: signTicket(p as TicketPayload, key), payload: p };
}

function check(input: string, signedPayload?: Record<string, unknown>): void {
  let v;
  try {
    v = verifyTicket(input, opts);
    peekTicket(input);
  } catch (e) {
    assert.fail(`threw on ${JSON.stringify(input)} (seed ${seed}): ${String(e)}`);
  }
  if (!v.ok) {
    assert.ok((TICKET_REFUSALS as readonly string[]).includes(v.reason), `unknown reason ${v.reason}`);
    assert.equal(typeof v.message, 'string');
    return;
  }
  // Accepted: the payload must be exactly what some valid signer put there (no field invented).
  const body = JSON.parse(Buffer.from(input.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  if (signedPayload) assert.deepEqual(body, JSON.parse(JSON.stringify(signedPayload)));
  assert.equal(v.payload.node, 'gpu-1');
  assert.ok(Number.isSafeInteger(v.payload.mem) && v.payload.mem >= 0);
  assert.ok(Number.isInteger(v.payload.cpct) && v.payload.cpct >= 1 && v.payload.cpct <= 100);
  assert.ok(v.payload.maxs === undefined || (Number.isInteger(v.payload.maxs) && v.payload.maxs >= 1));
}

test('ticket parser: corpus and seeded mutations never throw; only validly signed payloads pass', () => {
  const dir = new URL('../testdata/fuzz/', import.meta.url);
  const corpus = readdirSync(dir).map((f) => readFileSync(new URL(f, dir), 'utf8').trim());
  assert.ok(corpus.length >= 5, 'corpus present');
  for (const c of corpus) check(c);
  const r = rng(seed);
  const t0 = Date.now();
  let runs = 0, accepted = 0;
  while (Date.now() - t0 < budgetMs) {
    const { ticket, payload } = signedVariant(r);
    check(ticket, payload);
    if (verifyTicket(ticket, opts).ok) accepted++;
    let m = r() < 0.5 ? ticket : corpus[Math.floor(r() * corpus.length)]!;
    for (let n = 1 + Math.floor(r() * 4); n > 0; n--) m = mutateString(m, r);
    check(m);
    runs += 2;
  }
  assert.ok(runs > 100, `ran ${runs} inputs`);
  assert.ok(accepted > 0, 'some variants are valid (the loop reaches the accepting path)');
});

test('maxs: optional, an integer from 1, else the ticket is malformed', () => {
  const v = (p: Record<string, unknown>) => verifyTicket(signTicket({ ...base, ...p } as TicketPayload, key), opts);
  const ok = v({ maxs: 2 });
  assert.equal(ok.ok && ok.payload.maxs, 2);
  assert.equal(v({}).ok, true);
  for (const bad of [0, 1.5, '2', -1]) assert.deepEqual([v({ maxs: bad }).ok, (v({ maxs: bad }) as { reason?: string }).reason], [false, 'malformed']);
});
