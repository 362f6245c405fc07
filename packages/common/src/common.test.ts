import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AvecError, errorCode, errorMessage } from './errors.js';
import { expectGolden } from './golden.js';
import { createLogger, levelFromEnv } from './log.js';

test('logger: JSON lines with component and bound fields, filtered by level; AVEC_LOG picks the level', () => {
  const lines: string[] = [];
  const log = createLogger({ component: 'operator', level: 'info', sink: (l) => lines.push(l), clock: () => new Date(0) });
  log.debug('hidden');
  log.child({ namespace: 'ns', name: 'c' }).warn('claim lost', { node: 'g1' });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), { ts: '1970-01-01T00:00:00.000Z', level: 'warn', component: 'operator', msg: 'claim lost', namespace: 'ns', name: 'c', node: 'g1' });
  assert.equal(levelFromEnv({ AVEC_LOG: 'debug' }), 'debug');
  assert.equal(levelFromEnv({ AVEC_LOG: 'loud' }), 'info', 'an unknown level falls back');
  assert.equal(levelFromEnv({}, 'warn'), 'warn');
});

test('errors: one type with a code; errorMessage narrows anything thrown', () => {
  const e = new AvecError('BadFlag', 'unknown flag --x');
  assert.equal(errorCode(e), 'BadFlag');
  assert.equal(errorMessage(e), 'unknown flag --x');
  assert.equal(errorMessage('plain'), 'plain');
  assert.equal(errorMessage({ a: 1 }), '{"a":1}');
  assert.equal(errorMessage(undefined), 'undefined');
  assert.equal(errorCode(new Error('x')), undefined);
});

test('expectGolden: equal passes, different fails, missing fails (never created), AVEC_UPDATE_GOLDEN=1 writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'avec-golden-'));
  const path = join(dir, 'x.golden.json');
  assert.throws(() => expectGolden(path, 'a\n', {}), /golden file .* is missing: run the test with AVEC_UPDATE_GOLDEN=1/);
  assert.equal(existsSync(path), false, 'a missing golden file is not created by a normal run');
  expectGolden(path, 'a\n', { AVEC_UPDATE_GOLDEN: '1' });
  expectGolden(path, 'a\n', {});
  assert.throws(() => expectGolden(path, 'b\n', {}), /output differs/);
});
