import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Keyring, loadKeyringDir } from './keyring.js';
import { signTicket, verifyTicket, peekTicket } from './ticket.js';

const here = dirname(fileURLToPath(import.meta.url));
const vectorsPath = join(here, '../../../docs/ticket-vectors.json');

interface Vector {
  name: string;
  now: number;
  node: string;
  ticket: string;
  valid: boolean;
  payload?: Record<string, unknown>;
  reason?: string;
}
const doc = JSON.parse(readFileSync(vectorsPath, 'utf8')) as {
  keyring: Record<string, string>;
  current: string;
  vectors: Vector[];
};
const vkeys = new Map(Object.entries(doc.keyring).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
const vring = new Keyring(vkeys, doc.current);

test('docs/ticket-vectors.json: every vector gives the expected verdict', () => {
  assert.ok(doc.vectors.length >= 10);
  for (const v of doc.vectors) {
    const got = verifyTicket(v.ticket, { keyring: vring, now: v.now, node: v.node });
    if (v.valid) {
      assert.equal(got.ok, true, `${v.name}: ${JSON.stringify(got)}`);
      if (got.ok) assert.deepEqual(got.payload, v.payload, v.name);
    } else {
      assert.equal(got.ok, false, v.name);
      if (!got.ok) assert.equal(got.reason, v.reason, `${v.name}: ${got.message}`);
    }
  }
});

test('sign then verify round-trips with the current key; the older key still verifies', () => {
  const payload = { uid: 'u1', ns: 'n', claim: 'c', node: 'gpu-a', dev: '', mem: 1 << 30, cpct: 25, iat: 100, exp: 200 };
  const t = signTicket(vring, payload);
  assert.match(t, /^avec1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  const v = verifyTicket(t, { keyring: vring, now: 150, node: 'gpu-a' });
  assert.deepEqual(v, { ok: true, payload: { v: 1, kid: '2026-02', ...payload } });
  assert.equal(peekTicket(t)?.kid, '2026-02');
  // A verifier that only knows the old key refuses it as unknown-kid.
  const oldOnly = new Keyring(new Map([['2026-01', vkeys.get('2026-01')!]]));
  const r = verifyTicket(t, { keyring: oldOnly, now: 150, node: 'gpu-a' });
  assert.equal(r.ok ? 'ok' : r.reason, 'unknown-kid');
});

test('keyring directory: current file, lexical fallback, dotfiles ignored, short keys refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'avec-keys-'));
  writeFileSync(join(dir, 'a'), Buffer.alloc(32, 1));
  writeFileSync(join(dir, 'b'), Buffer.alloc(32, 2));
  mkdirSync(join(dir, '..data'));
  assert.equal(loadKeyringDir(dir).currentKid, 'b');
  writeFileSync(join(dir, 'current'), 'a\n');
  const k = loadKeyringDir(dir);
  assert.equal(k.currentKid, 'a');
  assert.deepEqual(k.kids(), ['a', 'b']);
  writeFileSync(join(dir, 'current'), 'zz');
  assert.throws(() => loadKeyringDir(dir), { code: 'KeyringNoCurrent' });
  writeFileSync(join(dir, 'current'), 'a');
  writeFileSync(join(dir, 'c'), Buffer.alloc(31, 3));
  assert.throws(() => loadKeyringDir(dir), { code: 'KeyringShortKey' });
  assert.throws(() => loadKeyringDir(join(dir, 'missing')), { code: 'KeyringUnreadable' });
});
