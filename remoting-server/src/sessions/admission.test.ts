import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TicketPayload } from '@avec/tickets';
import { decideAdmission, type AdmissionInput } from './admission.js';

const payload: TicketPayload = { v: 1, kid: 'k', uid: 'u', ns: 'ns', claim: 'c', node: 'n', dev: '', mem: 1000, cpct: 40, iat: 0, exp: 10 };
const devices = [
  { ordinal: 0, uuid: 'GPU-a', memoryBytes: 4000 },
  { ordinal: 1, uuid: 'GPU-b', memoryBytes: 8000 },
];
const base: AdmissionInput = { payload, draining: false, liveSessions: [], devices, limits: { maxSessions: 3, maxSessionsPerClaim: 2 } };

test('admits with the ticket limits on the named device, or device 0 for dev ""', () => {
  assert.deepEqual(decideAdmission(base), { admit: true, claim: 'ns/c', deviceOrdinal: 0, deviceUuid: 'GPU-a', memoryLimit: 1000, computePercent: 40 });
  const d = decideAdmission({ ...base, payload: { ...payload, dev: 'GPU-b', mem: 8000 } });
  assert.equal(d.admit && d.deviceOrdinal, 1);
});

test('refuses while draining, over node and claim session limits', () => {
  const r = (i: Partial<AdmissionInput>) => {
    const d = decideAdmission({ ...base, ...i });
    return d.admit ? 'admit' : d.reason;
  };
  assert.equal(r({ draining: true }), 'draining');
  assert.equal(r({ liveSessions: [{ claim: 'x/1' }, { claim: 'x/2' }, { claim: 'x/3' }] }), 'node-session-limit');
  assert.equal(r({ liveSessions: [{ claim: 'ns/c' }, { claim: 'ns/c' }] }), 'claim-session-limit');
  assert.equal(r({ liveSessions: [{ claim: 'ns/c' }, { claim: 'other/c' }] }), 'admit', 'other claims do not count');
  assert.equal(r({ liveSessions: [{ claim: 'ns/c', infoOnly: true }, { claim: 'ns/c', infoOnly: true }] }), 'admit', 'info-only sessions do not use the claim budget');
  assert.equal(r({ liveSessions: [{ claim: 'ns/c' }, { claim: 'ns/c' }], infoOnly: true }), 'admit', 'an info-only session is admitted past it');
  assert.equal(r({ liveSessions: [{ claim: 'x/1' }, { claim: 'x/2' }, { claim: 'x/3' }], infoOnly: true }), 'node-session-limit', 'but counts on the node');
  assert.equal(r({ liveSessions: [{ claim: 'ns/c' }], payload: { ...payload, maxs: 1 } }), 'claim-session-limit', "the ticket's maxs lowers the cap");
  assert.equal(r({ liveSessions: [{ claim: 'ns/c' }], payload: { ...payload, maxs: 5 } }), 'admit', 'but never raises it past the server cap');
  assert.equal(r({ liveSessions: [{ claim: 'ns/c' }, { claim: 'ns/c' }], payload: { ...payload, maxs: 5 } }), 'claim-session-limit');
});

test('refuses unknown devices and memory beyond the device', () => {
  const r = (p: Partial<TicketPayload>, devs = devices) => {
    const d = decideAdmission({ ...base, payload: { ...payload, ...p }, devices: devs });
    return d.admit ? 'admit' : d.reason;
  };
  assert.equal(r({ dev: 'GPU-z' }), 'unknown-device');
  assert.equal(r({ dev: 'GPU-a', mem: 4001 }), 'insufficient-memory');
  assert.equal(r({ mem: 0 }), 'insufficient-memory');
  assert.equal(r({ dev: 'GPU-a' }, []), 'unknown-device', 'no inventory: a named device cannot be checked');
  assert.equal(r({}, []), 'admit', 'no inventory: dev "" goes to ordinal 0');
});
