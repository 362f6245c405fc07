// List + watch into an in-memory cache on client-node's Watch (through @avec/kube's Resource):
// paginated lists; a watch the server closed (or that went quiet) resumes from the last
// resourceVersion; a failed or expired (410) watch relists after a backoff.
// The handler gets only keys (level-based controllers re-read the cache, they never trust events).
import { isStatus, listAll, type Resource, type WatchEventType } from '@avec/kube';
import type { Clock } from './clock.js';
import { type Logger, errorMessage } from '@avec/common';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export const objectKey = (o: KubeObject): string =>
  o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata?.name ?? '');

export interface InformerOptions {
  labelSelector?: string;
  clock: Clock;
  log: Logger;
  watchTimeoutSeconds?: number;
  maxBackoffMs?: number;
  /** List page size (default 500). */
  pageSize?: number;
}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private rv = '';
  private synced = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private failures = 0;
  /** Number of list calls made (observable for tests and metrics). */
  lists = 0;
  /** Bumped on every change of the cache (lets derived views know when to recompute). */
  version = 0;

  constructor(
    private readonly resource: Resource,
    private readonly opts: InformerOptions,
    /** `echo`: the event carries the resourceVersion the cache already holds (the owner's own write, put in by upsertLocal). */
    private readonly onChange: (key: string, echo?: boolean) => void,
  ) {}

  get(key: string): T | undefined {
    return this.cache.get(key);
  }
  list(): T[] {
    return [...this.cache.values()];
  }
  keys(): string[] {
    return [...this.cache.keys()];
  }
  hasSynced(): boolean {
    return this.synced;
  }

  /** Put an object the controller itself just wrote, so the next read does not see a stale copy. */
  upsertLocal(obj: T): void {
    const k = objectKey(obj);
    const cur = this.cache.get(k);
    const rvNum = (o?: KubeObject): number => Number(o?.metadata?.resourceVersion ?? 0);
    if (!cur || !(rvNum(cur) > rvNum(obj))) {
      this.cache.set(k, obj);
      this.version++;
    }
  }

  private async relist(): Promise<void> {
    this.lists++;
    const list = await listAll(this.resource, { labelSelector: this.opts.labelSelector, limit: this.opts.pageSize ?? 500 });
    const fresh = new Map<string, T>();
    for (const item of list.items as unknown as T[]) fresh.set(objectKey(item), item);
    const changed: string[] = [];
    for (const [k, v] of fresh) {
      if (this.cache.get(k)?.metadata?.resourceVersion !== v.metadata?.resourceVersion) changed.push(k);
    }
    for (const k of this.cache.keys()) if (!fresh.has(k)) changed.push(k);
    this.cache.clear();
    for (const [k, v] of fresh) this.cache.set(k, v);
    this.rv = list.metadata?.resourceVersion ?? '';
    this.synced = true;
    this.version++;
    for (const k of changed) this.onChange(k);
  }

  private apply(type: WatchEventType, obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.rv = rv;
    if (type === 'BOOKMARK') return;
    const k = objectKey(obj);
    if (type === 'DELETED') this.cache.delete(k);
    else {
      // Our own writes are put into the cache at once (upsertLocal); an event for an older write
      // arriving afterwards must not roll the cache back.
      const cur = Number(this.cache.get(k)?.metadata?.resourceVersion);
      const inc = Number(obj.metadata?.resourceVersion);
      if (Number.isFinite(cur) && Number.isFinite(inc) && inc < cur) return;
      // The same resourceVersion is the same object: our own write coming back. The cache holds it
      // already; the owner is told, so that it can skip what it did when it wrote.
      if (Number.isFinite(cur) && inc === cur) {
        this.onChange(k, true);
        return;
      }
      this.cache.set(k, obj);
    }
    this.version++;
    this.onChange(k);
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.opts.clock.setTimeout(resolve, ms));
  }

  /** Runs until stop(). Resolves once stopped. */
  async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) await this.relist();
        needList = false;
        await this.resource.watch(
          { resourceVersion: this.rv, labelSelector: this.opts.labelSelector, timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300 },
          (type, obj) => this.apply(type, obj as unknown as T),
          this.abort.signal,
        );
        this.failures = 0;
      } catch (err) {
        if (this.stopped) break;
        needList = true;
        const backoff = Math.min(this.opts.maxBackoffMs ?? 30_000, 500 * 2 ** this.failures++);
        this.opts.log.warn('watch failed; relisting after backoff', {
          kind: this.resource.kind,
          gone: isStatus(err, 410),
          backoffMs: backoff,
          error: errorMessage(err),
        });
        await this.delay(backoff);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }
}
