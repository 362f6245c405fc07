import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Keyring, loadKeyringDir } from './keyring.js';

const K = (c: string) => c.repeat(32);

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
  // The verifier's mode skips what is no valid key, and a `current` naming none falls back.
  writeFileSync(join(dir, 'current'), 'zz');
  const lenient = loadKeyringDir(dir, { invalid: 'skip' });
  assert.deepEqual(lenient.kids(), ['a', 'b']);
  assert.equal(lenient.currentKid, 'b');
  assert.throws(() => loadKeyringDir(join(dir, 'missing'), { invalid: 'skip' }), { code: 'KeyringUnreadable' });
});

test('keyring: no keys, bad kids and short keys are refused', () => {
  assert.throws(() => new Keyring(new Map()), { code: 'KeyringEmpty' });
  assert.throws(() => new Keyring(new Map([['current', Buffer.alloc(32)]])), { code: 'KeyringBadKid' });
  assert.throws(() => new Keyring(new Map([['a/b', Buffer.alloc(32)]])), { code: 'KeyringBadKid' });
  assert.throws(() => new Keyring(new Map([['a', Buffer.alloc(31)]])), { code: 'KeyringShortKey' });
  assert.throws(() => new Keyring(new Map([['a', Buffer.alloc(32)]]), 'b'), { code: 'KeyringNoCurrent' });
  assert.equal(Keyring.none().size, 0);
});

test('loadKeyringDir follows a Secret volume layout and skips kubelet bookkeeping', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'avec-keys-'));
  try {
    // kubelet's atomic writer: ..2026_x/<files>, ..data -> ..2026_x, <kid> -> ..data/<kid>
    await mkdir(join(dir, '..2026_01'));
    await writeFile(join(dir, '..2026_01', 'k1'), K('a'));
    await writeFile(join(dir, '..2026_01', 'k2'), K('b'));
    await symlink('..2026_01', join(dir, '..data'));
    await symlink('..data/k1', join(dir, 'k1'));
    await symlink('..data/k2', join(dir, 'k2'));
    await writeFile(join(dir, 'short'), 'tooshort');
    const ring = loadKeyringDir(dir, { invalid: 'skip' });
    assert.deepEqual(ring.kids(), ['k1', 'k2']);
    assert.equal(Buffer.from(ring.get('k2')!).toString(), K('b'));
    assert.equal(ring.currentKid, 'k2');
    await rm(join(dir, 'short'));
    assert.deepEqual(loadKeyringDir(dir).kids(), ['k1', 'k2'], 'the strict mode reads the same layout');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
