import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Informer, type KubeObject } from './informer.js';
import { KubeError, type ListOptions, type ObjectList, type Resource, type WatchEventType, type WatchOptions } from '@avec/kube';
import type { Clock } from './clock.js';
import { silentLogger } from '@avec/common';

const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, resourceVersion: rv } });

/** A scripted resource: each list/watch call takes the next step (only list and watch are used). */
class ScriptedApi {
  readonly kind = 'things';
  lists: Array<{ rv: string; items: KubeObject[] }> = [];
  watches: Array<(emit: (t: WatchEventType, o: unknown) => void, signal: AbortSignal) => Promise<void>> = [];
  watchOpts: WatchOptions[] = [];
  listOpts: ListOptions[] = [];
  async list(o: ListOptions = {}): Promise<ObjectList<KubeObject>> {
    this.listOpts.push(o);
    const l = this.lists.shift();
    if (!l) throw new Error('unexpected list');
    return { metadata: { resourceVersion: l.rv }, items: l.items };
  }
  async watch(o: WatchOptions, onEvent: (t: WatchEventType, o: unknown) => void, signal: AbortSignal): Promise<void> {
    this.watchOpts.push(o);
    const w = this.watches.shift();
    if (!w) return new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
    return w(onEvent, signal);
  }
}

test('informer: list, watch, restart with relist on errors and 410, resume on normal close', async () => {
  const api = new ScriptedApi();
  api.lists.push({ rv: '10', items: [obj('a', '5')] });
  api.watches.push(async (emit) => {
    emit('ADDED', obj('b', '11'));
    throw new KubeError(0, 'Transport', 'connection reset');
  });
  api.lists.push({ rv: '20', items: [obj('a', '15'), obj('c', '19')] }); // b gone, a changed, c new
  api.watches.push(async () => {
    throw new KubeError(410, 'Expired', 'too old resource version');
  });
  api.lists.push({ rv: '30', items: [obj('a', '15'), obj('c', '19')] }); // nothing changed
  api.watches.push(async (emit) => {
    emit('BOOKMARK', obj('', '33'));
    emit('MODIFIED', obj('a', '14')); // older than the cached rv 15: ignored
    emit('DELETED', obj('c', '34'));
  }); // normal close -> resume from 34 without a list
  const delays: number[] = [];
  const clock: Clock = { now: () => 0, setTimeout: (fn, ms) => { delays.push(ms); queueMicrotask(fn); return 0; }, clearTimeout: () => {} };
  const changes: string[] = [];
  const inf = new Informer(api as unknown as Resource, { labelSelector: 'a=b', clock, log: silentLogger }, (k) => changes.push(k));
  const done = inf.run();
  while (api.watchOpts.length < 4) await new Promise((r) => setImmediate(r));
  assert.equal(inf.lists, 3);
  assert.deepEqual(changes, ['a', 'b', 'a', 'c', 'b', 'c']);
  assert.deepEqual(inf.keys().sort(), ['a']);
  assert.equal(inf.get('a')?.metadata?.resourceVersion, '15');
  assert.deepEqual(delays, [500, 1000], 'backoff doubles across consecutive failures');
  assert.equal(api.watchOpts[0]?.resourceVersion, '10');
  assert.equal(api.watchOpts[0]?.labelSelector, 'a=b');
  assert.equal(api.watchOpts[3]?.resourceVersion, '34');
  assert.deepEqual(api.listOpts[0], { labelSelector: 'a=b', limit: 500, continue: undefined }, 'lists are paginated');
  assert.equal(inf.hasSynced(), true);
  inf.stop();
  await done;
});
