import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyLock } from './key-lock.js';

test('KeyLock: same key runs one at a time in order, other keys run concurrently, errors release', async () => {
  const lock = new KeyLock();
  const log: string[] = [];
  const step = (name: string) => async (): Promise<string> => {
    log.push(`${name}+`);
    await new Promise((r) => setImmediate(r));
    log.push(`${name}-`);
    return name;
  };
  const boom = lock.run('a', async () => {
    throw new Error('x');
  });
  const r = await Promise.all([lock.run('a', step('a1')), lock.run('a', step('a2')), lock.run('b', step('b1')), boom.catch(() => 'err')]);
  assert.deepEqual(r, ['a1', 'a2', 'b1', 'err']);
  assert.ok(log.indexOf('a1-') < log.indexOf('a2+'), log.join(' '));
  assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), 'b does not wait for a');
});
