// A keyed, de-duplicating work queue with per-key exponential backoff (client-go's semantics):
// a key is queued at most once; a key being processed that is added again is queued once more when
// done(); addRateLimited() delays by base * 2^failures up to max; forget() resets the failures.
import type { Clock } from './clock.js';

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; handle: unknown }>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private shutDown = false;

  constructor(
    private readonly clock: Clock,
    private readonly backoff: BackoffOptions = { baseMs: 250, maxMs: 60_000 },
  ) {}

  add(key: string): void {
    if (this.shutDown) return;
    const d = this.delayed.get(key);
    if (d) {
      this.clock.clearTimeout(d.handle);
      this.delayed.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const w = this.waiters.shift();
    if (w) {
      this.queued.delete(key);
      this.processing.add(key);
      w(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Queue `key` after `ms`; an earlier pending delay for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shutDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const prev = this.delayed.get(key);
    if (prev && prev.at <= at) return;
    if (prev) this.clock.clearTimeout(prev.handle);
    const handle = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Requeue after this key's next backoff step. Returns the delay used. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const ms = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** n);
    this.addAfter(key, ms);
    return ms;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to process (resolves when one is available; undefined after shutdown). */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shutDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  len(): number {
    return this.queue.length;
  }

  shutdown(): void {
    this.shutDown = true;
    for (const d of this.delayed.values()) this.clock.clearTimeout(d.handle);
    this.delayed.clear();
    for (const w of this.waiters) w(undefined);
    this.waiters = [];
  }
}
