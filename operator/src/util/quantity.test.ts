import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantityBytes, formatBytes, humanBytes } from './quantity.js';

test('parseQuantityBytes: binary, decimal, exponent, integers, rounding up', () => {
  assert.equal(parseQuantityBytes('8Gi'), 8 * 2 ** 30);
  assert.equal(parseQuantityBytes('512Mi'), 512 * 2 ** 20);
  assert.equal(parseQuantityBytes('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(parseQuantityBytes('2G'), 2e9);
  assert.equal(parseQuantityBytes('1e3'), 1000);
  assert.equal(parseQuantityBytes('1073741824'), 2 ** 30);
  assert.equal(parseQuantityBytes(1024), 1024);
  assert.equal(parseQuantityBytes('1500m'), 2);
  assert.equal(parseQuantityBytes('0'), 0);
});

test('parseQuantityBytes: refuses garbage with a message naming the input', () => {
  assert.throws(() => parseQuantityBytes('8GB'), /"8GB" is not a quantity/);
  assert.throws(() => parseQuantityBytes(''), { code: 'InvalidQuantity' });
  assert.throws(() => parseQuantityBytes('100Ei'), /out of range/);
});

test('formatBytes', () => {
  assert.equal(formatBytes(8 * 2 ** 30), '8Gi');
  assert.equal(formatBytes(1536 * 2 ** 20), '1536Mi');
  assert.equal(formatBytes(1000), '1000');
  assert.equal(formatBytes(0), '0');
});

test('humanBytes: the largest binary unit, one decimal at most', () => {
  assert.equal(humanBytes(80 * 2 ** 30), '80Gi');
  assert.equal(humanBytes(1.5 * 2 ** 30), '1.5Gi');
  assert.equal(humanBytes(320 * 2 ** 30 - 2 ** 20), '320Gi');
  assert.equal(humanBytes(3 * 2 ** 40), '3Ti');
  assert.equal(humanBytes(512), '512');
  assert.equal(humanBytes(0), '0');
});
