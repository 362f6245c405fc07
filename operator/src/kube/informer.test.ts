import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Informer, type KubeObject } from './informer.js';
import { KubeError, type KubeApi, type WatchEventType } from '@avec/kube';
import type { Clock } from './clock.js';
import { silentLogger } from '../util/log.js';

const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, resourceVersion: rv } });

/** A scripted API: each list/watch call takes the next step. */
class ScriptedApi implements KubeApi {
  lists: Array<{ rv: string; items: KubeObject[] }> = [];
  watches: Array<(emit: (t: WatchEventType, o: unknown) => void, signal: AbortSignal) => Promise<void>> = [];
  watchPaths: string[] = [];
  async request<T>(method: string, path: string): Promise<T> {
    assert.equal(method, 'GET');
    assert.ok(!path.includes('watch=true'));
    const l = this.lists.shift();
    if (!l) throw new Error('unexpected list');
    return { metadata: { resourceVersion: l.rv }, items: l.items } as T;
  }
  async watch(path: string, onEvent: (t: WatchEventType, o: unknown) => void, signal: AbortSignal): Promise<void> {
    this.watchPaths.push(path);
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
  const inf = new Informer(api, { path: '/apis/x/v1/things', labelSelector: 'a=b', clock, log: silentLogger }, (k) => changes.push(k));
  const done = inf.run();
  while (api.watchPaths.length < 4) await new Promise((r) => setImmediate(r));
  assert.equal(inf.lists, 3);
  assert.deepEqual(changes, ['a', 'b', 'a', 'c', 'b', 'c']);
  assert.deepEqual(inf.keys().sort(), ['a']);
  assert.equal(inf.get('a')?.metadata?.resourceVersion, '15');
  assert.deepEqual(delays, [500, 1000], 'backoff doubles across consecutive failures');
  assert.match(api.watchPaths[0], /resourceVersion=10/);
  assert.match(api.watchPaths[0], /labelSelector=a%3Db/);
  assert.match(api.watchPaths[3], /resourceVersion=34/);
  assert.equal(inf.hasSynced(), true);
  inf.stop();
  await done;
});
