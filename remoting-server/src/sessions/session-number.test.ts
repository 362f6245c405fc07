import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { randomSessionId } from './session-manager.js';
import { sessionNumber } from './session-number.js';

test('session number: numeric ids are themselves, as strtoull reads them', () => {
  assert.equal(sessionNumber('42'), 42n);
  assert.equal(sessionNumber('0x10'), 16n);
  assert.equal(sessionNumber('010'), 8n);
  assert.equal(sessionNumber('18446744073709551615'), (1n << 64n) - 1n);
  for (let i = 0; i < 20; i++) {
    const id = randomSessionId();
    assert.equal(sessionNumber(id), BigInt(id));
  }
});

test('session number: anything else is the first 8 bytes of its SHA-256, little-endian', () => {
  const sha = (s: string) => createHash('sha256').update(s).digest().readBigUInt64LE(0);
  for (const id of ['pod-1', '-5', '18446744073709551616', '0x', '12a', '']) assert.equal(sessionNumber(id), sha(id), id);
});
