import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GENERATED, HEADER, renderWireConstants } from './wire-gen.js';
import { FRAME_HEADER_BYTES, HELLO_BYTES, WIRE_MAGIC } from './wire-constants.js';

test('wire-constants.ts is generated from the current wire/avec_wire.h (else: node remoting-server/dist/wire/wire-gen.js)', () => {
  assert.equal(readFileSync(GENERATED, 'utf8'), renderWireConstants(readFileSync(HEADER, 'utf8')));
  assert.equal(WIRE_MAGIC, 0x43455641);
  assert.equal(FRAME_HEADER_BYTES, 24);
  assert.equal(HELLO_BYTES, 80);
});

test('the generator refuses a header it cannot read (a missing constant, a size it cannot compute)', () => {
  assert.throws(() => renderWireConstants('#define AVEC_WIRE_VERSION 1u\n'), /AVEC_WIRE_MAGIC not found/);
  const text = readFileSync(HEADER, 'utf8').replace(/AVEC_STATIC_ASSERT\(sizeof\(avec_hello\) ==[^\n]*\n/, '');
  assert.throws(() => renderWireConstants(text), /no size assertion for avec_hello\b/);
});
