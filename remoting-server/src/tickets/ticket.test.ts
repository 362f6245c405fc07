import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { signTicket, verifyTicket, type TicketPayload } from './ticket.js';

const key1 = new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef'));
const key2 = new Uint8Array(Buffer.from('fedcba9876543210fedcba9876543210'));
const keyring = new Map([
  ['k1', key1],
  ['k2', key2],
]);
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

test('60 s of clock skew is tolerated on both ends', () => {
  assert.equal(verifyTicket(signTicket({ ...payload, exp: now - 60 }, key2), opts).ok, true);
  assert.equal(verifyTicket(signTicket({ ...payload, iat: now + 60 }, key2), opts).ok, true);
});

test('a removed key stops verifying its tickets (rotation)', () => {
  const t = signTicket({ ...payload, kid: 'k1' }, key1);
  const v = verifyTicket(t, { ...opts, keyring: new Map([['k2', key2]]) });
  assert.equal(v.ok, false);
  if (!v.ok) assert.equal(v.reason, 'unknown-kid');
});
