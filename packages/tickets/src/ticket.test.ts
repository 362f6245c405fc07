import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { Keyring } from './keyring.js';
import { peekTicket, signTicket, signWithKeyring, verifyTicket, type TicketPayload } from './ticket.js';

const key1 = new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef'));
const key2 = new Uint8Array(Buffer.from('fedcba9876543210fedcba9876543210'));
const keyring = new Keyring(
  new Map([
    ['k1', key1],
    ['k2', key2],
  ]),
);
const now = 1_800_000_000;
const payload: TicketPayload = {
  v: 1, kid: 'k2', uid: 'u-1', ns: 'team-a', claim: 'c1', node: 'gpu-1', dev: '', mem: 1 << 30, cpct: 50, iat: now - 10, exp: now + 600,
};
const opts = { keyring, nodeName: 'gpu-1', nowSeconds: now };

test('a ticket signed with any key in the keyring verifies and yields its payload', () => {
  for (const kid of ['k1', 'k2']) {
    const t = signTicket({ ...payload, kid }, kid === 'k1' ? key1 : key2);
    const v = verifyTicket(t, opts);
    assert.equal(v.ok, true, JSON.stringify(v));
    if (v.ok) assert.deepEqual(v.payload, { ...payload, kid });
  }
});

test('the MAC is HMAC-SHA256 over "avec1." + the base64url payload, unpadded', () => {
  const t = signTicket(payload, key2);
  const [prefix, body, sig] = t.split('.');
  assert.equal(prefix, 'avec1');
  assert.ok(!t.includes('='));
  assert.deepEqual(JSON.parse(Buffer.from(body!, 'base64url').toString()), payload);
  assert.equal(sig, createHmac('sha256', key2).update(`avec1.${body}`).digest('base64url'));
});

test('refusals name their reason', () => {
  const good = signTicket(payload, key2);
  const [, body, sig] = good.split('.') as [string, string, string];
  const flipped = sig.slice(0, -2) + (sig.at(-2) === 'A' ? 'B' : 'A') + sig.at(-1);
  const cases: Array<[string, string, Partial<typeof opts>?]> = [
    ['malformed', 'garbage'],
    ['malformed', 'avec1.!!!.abc'],
    ['malformed', `avec1.${Buffer.from('not json').toString('base64url')}.${sig}`],
    ['bad-signature', `avec1.${Buffer.from(JSON.stringify({ ...payload, cpct: 0 })).toString('base64url')}.${sig}`],
    ['malformed', signTicket({ ...payload, cpct: 0 }, key2)],
    ['malformed', signTicket({ ...payload, mem: 1.5 }, key2)],
    ['malformed', 'a'.repeat(5000)],
    ['malformed', `avec2.${body}.${sig}`],
    ['malformed', `avec1.${body}=.${sig}`],
    ['unsupported-version', signTicket({ ...payload, v: 2 } as unknown as TicketPayload, key2)],
    ['unknown-kid', signTicket({ ...payload, kid: 'k9' }, key2)],
    ['bad-signature', `avec1.${body}.${flipped}`],
    ['bad-signature', signTicket(payload, key1)],
    ['bad-signature', `avec1.${body}.${sig.slice(0, 20)}`],
    ['expired', signTicket({ ...payload, exp: now - 61 }, key2)],
    ['not-yet-valid', signTicket({ ...payload, iat: now + 61 }, key2)],
    ['wrong-node', good, { nodeName: 'gpu-2' }],
  ];
  for (const [reason, ticket, extra] of cases) {
    const v = verifyTicket(ticket, { ...opts, ...extra });
    assert.equal(v.ok, false, `${reason}: ${ticket.slice(0, 60)}`);
    if (!v.ok) assert.equal(v.reason, reason, `${v.message} (${ticket.slice(0, 60)})`);
  }
});

test('60 s of clock skew is tolerated on both ends; the skew is an argument', () => {
  assert.equal(verifyTicket(signTicket({ ...payload, exp: now - 60 }, key2), opts).ok, true);
  assert.equal(verifyTicket(signTicket({ ...payload, iat: now + 60 }, key2), opts).ok, true);
  const v = verifyTicket(signTicket({ ...payload, exp: now - 60 }, key2), { ...opts, skewSeconds: 0 });
  assert.equal(v.ok ? 'ok' : v.reason, 'expired');
});

test('a removed key stops verifying its tickets (rotation)', () => {
  const t = signTicket({ ...payload, kid: 'k1' }, key1);
  const v = verifyTicket(t, { ...opts, keyring: new Keyring(new Map([['k2', key2]])) });
  assert.equal(v.ok, false);
  if (!v.ok) assert.equal(v.reason, 'unknown-kid');
});

test('an empty keyring verifies nothing', () => {
  const v = verifyTicket(signTicket(payload, key2), { ...opts, keyring: Keyring.none() });
  assert.equal(v.ok ? 'ok' : v.reason, 'unknown-kid');
  assert.throws(() => Keyring.none().current(), { code: 'KeyringEmpty' });
});

test('sign with the keyring then verify round-trips with the current key; the older key still verifies', () => {
  const ring = new Keyring(new Map([['2026-01', key1], ['2026-02', key2]]));
  const claims = { uid: 'u1', ns: 'n', claim: 'c', node: 'gpu-a', dev: '', mem: 1 << 30, cpct: 25, iat: 100, exp: 200 };
  const t = signWithKeyring(ring, claims);
  assert.match(t, /^avec1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  const v = verifyTicket(t, { keyring: ring, nowSeconds: 150, nodeName: 'gpu-a' });
  assert.deepEqual(v, { ok: true, payload: { v: 1, kid: '2026-02', ...claims } });
  assert.equal(peekTicket(t)?.kid, '2026-02');
  assert.equal(peekTicket('avec1.!!!.x'), undefined);
  assert.equal(peekTicket(`avec1.${Buffer.from('{').toString('base64url')}.x`), undefined);
  // A verifier that only knows the old key refuses it as unknown-kid.
  const oldOnly = new Keyring(new Map([['2026-01', key1]]));
  const r = verifyTicket(t, { keyring: oldOnly, nowSeconds: 150, nodeName: 'gpu-a' });
  assert.equal(r.ok ? 'ok' : r.reason, 'unknown-kid');
  // The old key signs again once `current` names it.
  const back = new Keyring(new Map([['2026-01', key1], ['2026-02', key2]]), '2026-01');
  assert.equal(peekTicket(signWithKeyring(back, claims))?.kid, '2026-01');
});
