import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ticketNeedsRefresh, refreshInSeconds, renderClaimSecret } from './claim-secret.js';

const want = { uid: 'u', ns: 'n', claim: 'c', node: 'g', dev: 'D', mem: 1, cpct: 100 };
const cur = { v: 1 as const, kid: 'k2', iat: 1000, exp: 1000 + 900, ...want };

test('ticket refresh: binding change, key rotation, last third of lifetime', () => {
  assert.equal(ticketNeedsRefresh(undefined, want, 'k2', 1000, 900), true);
  assert.equal(ticketNeedsRefresh(cur, want, 'k2', 1000, 900), false);
  assert.equal(ticketNeedsRefresh(cur, { ...want, node: 'h' }, 'k2', 1000, 900), true);
  assert.equal(ticketNeedsRefresh(cur, want, 'k3', 1000, 900), true);
  assert.equal(ticketNeedsRefresh(cur, want, 'k2', 1600, 900), false); // 300 s left = exactly a third
  assert.equal(ticketNeedsRefresh(cur, want, 'k2', 1601, 900), true);
  assert.equal(refreshInSeconds(cur, 1000, 900), 600);
});

test('claim secret: name, keys, owner', () => {
  const s = renderClaimSecret({ name: 'c', namespace: 'n', uid: 'u' }, '10.0.0.1:7100', 'avec1.x.y');
  assert.equal(s.metadata.name, 'avec-claim-c');
  assert.deepEqual(Object.keys(s.data).sort(), ['claim', 'endpoint', 'ticket']);
  assert.equal(Buffer.from(s.data.endpoint, 'base64').toString(), '10.0.0.1:7100');
  assert.equal(Buffer.from(s.data.claim, 'base64').toString(), 'n/c');
  assert.equal(s.metadata.ownerReferences[0].uid, 'u');
});
