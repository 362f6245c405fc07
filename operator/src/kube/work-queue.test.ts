import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './work-queue.js';
import { ManualClock } from './clock.js';

test('dedupes queued keys and keeps FIFO order', async () => {
  const q = new WorkQueue(new ManualClock());
  q.add('a'); q.add('b'); q.add('a'); q.add('c'); q.add('b');
  assert.equal(q.len(), 3);
  assert.deepEqual([await q.get(), await q.get(), await q.get()], ['a', 'b', 'c']);
});

test('a key added while processing is queued once more after done, never twice at once', async () => {
  const q = new WorkQueue(new ManualClock());
  q.add('a');
  const k = await q.get();
  q.add('a'); q.add('a');
  assert.equal(q.len(), 0, 'not handed out while processing');
  q.done(k!);
  assert.equal(q.len(), 1);
  assert.equal(await q.get(), 'a');
  q.done('a');
  assert.equal(q.len(), 0);
});

test('waiting get() is woken by add()', async () => {
  const q = new WorkQueue(new ManualClock());
  const p = q.get();
  q.add('x');
  assert.equal(await p, 'x');
  const p2 = q.get();
  q.shutdown();
  assert.equal(await p2, undefined);
});

test('per-key exponential backoff with an injected clock; forget resets', () => {
  const clock = new ManualClock();
  const q = new WorkQueue(clock, { baseMs: 100, maxMs: 1000 });
  const delays = [1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('a'));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  assert.equal(q.len(), 0);
  clock.advance(99);
  assert.equal(q.len(), 0, 'earliest pending delay (100 ms) has not passed');
  clock.advance(1);
  assert.equal(q.len(), 1);
  assert.equal(q.addRateLimited('b'), 100, 'backoff is per key');
  q.forget('a');
  assert.equal(q.failuresOf('a'), 0);
  assert.equal(q.addRateLimited('a'), 100);
});

test('addAfter: earlier deadline wins, add() cancels the delay', () => {
  const clock = new ManualClock();
  const q = new WorkQueue(clock);
  q.addAfter('k', 1000);
  q.addAfter('k', 500);
  q.addAfter('k', 2000);
  clock.advance(500);
  assert.equal(q.len(), 1);
  q.addAfter('j', 300);
  q.add('j');
  assert.equal(q.len(), 2);
  assert.equal(clock.pending(), 0, 'timer for j cancelled');
});
