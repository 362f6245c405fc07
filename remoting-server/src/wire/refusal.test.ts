import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadAddon } from '../native/addon.js';
import { helloRefusal, MAX_REFUSAL_MESSAGE, REFUSAL_CODES, REFUSAL_REASONS, STATUS_BAD_TICKET, STATUS_REFUSED } from './refusal.js';

test('the reason codes and statuses are the ones avec_wire.h defines (as the addon exports them)', () => {
  const addon = loadAddon();
  assert.deepEqual({ ...REFUSAL_CODES }, { ...addon.refusal });
  assert.equal(STATUS_BAD_TICKET, addon.status.BAD_TICKET);
  assert.equal(STATUS_REFUSED, addon.status.REFUSED);
  assert.equal(MAX_REFUSAL_MESSAGE, addon.maxRefusalMessage);
});

test('ticket problems stay BAD_TICKET, everything else is REFUSED; every reason has its own code', () => {
  const codes = new Set<number>();
  for (const reason of REFUSAL_REASONS) {
    const r = helloRefusal(reason, 'm');
    assert.equal(r.status, reason.startsWith('ticket-') ? STATUS_BAD_TICKET : STATUS_REFUSED, reason);
    assert.notEqual(r.code, REFUSAL_CODES.UNSPECIFIED, reason);
    assert.equal(r.message, 'm');
    codes.add(r.code);
  }
  assert.equal(codes.size, REFUSAL_REASONS.length);
  assert.deepEqual(helloRefusal('draining', 'x'), { status: STATUS_REFUSED, code: REFUSAL_CODES.DRAINING, message: 'x' });
  assert.deepEqual(helloRefusal('ticket-expired', 'y'), { status: STATUS_BAD_TICKET, code: REFUSAL_CODES.TICKET_EXPIRED, message: 'y' });
});
