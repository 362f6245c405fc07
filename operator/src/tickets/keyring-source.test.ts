import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyringSource } from './keyring-source.js';
import { silentLogger } from '../util/log.js';

test('keyring source: reloads on change, reports a new signing key, keeps the last good keyring on errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'avec-ks-'));
  writeFileSync(join(dir, 'k1'), Buffer.alloc(32, 1));
  const src = new KeyringSource(dir, silentLogger);
  let rotations = 0;
  src.onRotate = () => rotations++;
  assert.equal(src.get().currentKid, 'k1');
  writeFileSync(join(dir, 'k2'), Buffer.alloc(32, 2));
  assert.equal(src.get().currentKid, 'k2');
  assert.equal(rotations, 1);
  writeFileSync(join(dir, 'current'), 'nope');
  utimesSync(join(dir, 'current'), new Date(), new Date(Date.now() + 5000));
  assert.equal(src.get().currentKid, 'k2', 'a broken directory keeps the previous keyring');
  assert.equal(rotations, 1);
});
