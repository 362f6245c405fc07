import assert from 'node:assert/strict';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KeyringWatcher } from './keyring-watcher.js';
import { silentLogger } from './test-util.js';

const K = (c: string) => c.repeat(32);

test('KeyringWatcher picks up an added key and keeps old keys when the directory vanishes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'avec-keys-'));
  const changes: string[][] = [];
  const w = new KeyringWatcher({ dir, logger: silentLogger, invalid: 'skip', pollMs: 60_000, onChange: (k) => changes.push(k) });
  try {
    await writeFile(join(dir, 'k1'), K('a'));
    await w.start();
    assert.deepEqual(w.keyring.kids(), ['k1']);
    await writeFile(join(dir, 'k2.tmp'), K('c'));
    await rename(join(dir, 'k2.tmp'), join(dir, 'k2'));
    await w.reload();
    assert.deepEqual(w.keyring.kids(), ['k1', 'k2']);
    // The directory vanishes at once (rename is atomic; a recursive rm would show half-deleted states).
    await rename(dir, `${dir}-gone`);
    await w.reload();
    assert.deepEqual(w.keyring.kids(), ['k1', 'k2'], 'a failed read keeps the previous keyring');
    await rm(`${dir}-gone`, { recursive: true, force: true });
    assert.deepEqual(changes.at(0), ['k1']);
    assert.deepEqual(changes.at(-1), ['k1', 'k2']);
  } finally {
    w.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('KeyringWatcher.refresh: reloads on change, reports a new signing key, keeps the last good keyring on errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'avec-ks-'));
  writeFileSync(join(dir, 'k1'), Buffer.alloc(32, 1));
  let rotations = 0;
  const src = new KeyringWatcher({ dir, logger: silentLogger, onRotate: () => rotations++ });
  assert.equal(src.load().currentKid, 'k1');
  assert.equal(src.refresh().currentKid, 'k1');
  writeFileSync(join(dir, 'k2'), Buffer.alloc(32, 2));
  assert.equal(src.refresh().currentKid, 'k2');
  assert.equal(rotations, 1);
  writeFileSync(join(dir, 'current'), 'nope');
  utimesSync(join(dir, 'current'), new Date(), new Date(Date.now() + 5000));
  assert.equal(src.refresh().currentKid, 'k2', 'a broken directory keeps the previous keyring');
  assert.equal(rotations, 1);
});

test('KeyringWatcher.load throws on an unreadable directory (the operator refuses to start)', () => {
  const w = new KeyringWatcher({ dir: join(tmpdir(), 'avec-no-such-dir'), logger: silentLogger });
  assert.throws(() => w.load(), { code: 'KeyringUnreadable' });
  assert.equal(w.keyring.size, 0);
});
