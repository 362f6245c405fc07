import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../log.js';
import { KeyringWatcher, readKeyringDir } from './keyring.js';

const K = (c: string) => c.repeat(32);

test('readKeyringDir follows a Secret volume layout and skips kubelet bookkeeping', async () => {
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
    const ring = await readKeyringDir(dir);
    assert.deepEqual([...ring.keys()], ['k1', 'k2']);
    assert.equal(Buffer.from(ring.get('k2')!).toString(), K('b'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('KeyringWatcher picks up an added key and keeps old keys when the directory vanishes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'avec-keys-'));
  const changes: string[][] = [];
  const w = new KeyringWatcher({ dir, logger: silentLogger, pollMs: 60_000, onChange: (k) => changes.push(k) });
  try {
    await writeFile(join(dir, 'k1'), K('a'));
    await w.start();
    assert.deepEqual([...w.keyring.keys()], ['k1']);
    await writeFile(join(dir, 'k2.tmp'), K('c'));
    await rename(join(dir, 'k2.tmp'), join(dir, 'k2'));
    await w.reload();
    assert.deepEqual([...w.keyring.keys()].sort(), ['k1', 'k2']);
    // The directory vanishes at once (rename is atomic; a recursive rm would show half-deleted states).
    await rename(dir, `${dir}-gone`);
    await w.reload();
    assert.deepEqual([...w.keyring.keys()].sort(), ['k1', 'k2'], 'a failed read keeps the previous keyring');
    await rm(`${dir}-gone`, { recursive: true, force: true });
    assert.deepEqual(changes.at(0), ['k1']);
    assert.deepEqual(changes.at(-1), ['k1', 'k2']);
  } finally {
    w.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
