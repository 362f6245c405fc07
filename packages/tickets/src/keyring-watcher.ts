// The last good keyring of a directory (a mounted Secret), re-read when it changes, so keys rotate
// without a restart and without touching live sessions. The remoting server: start() (fs.watch plus
// a poll) and reload(); the operator: refresh() on each use (a cheap signature of the directory).
// A failed read keeps the previous keys, never an empty keyring by accident.
import { watch, readdirSync, statSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from './errors.js';
import type { Logger } from '@avec/common';
import { Keyring, loadKeyringDir, type LoadKeyringOptions } from './keyring.js';

/** The part of avec's one logger (@avec/common) the watcher uses. */
export type KeyringLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface KeyringWatcherOptions extends LoadKeyringOptions {
  dir: string;
  logger: KeyringLogger;
  /** Poll period of start(), besides fs.watch (which misses some volume updates). */
  pollMs?: number;
  /** Kids or key bytes changed (also on the first load). */
  onChange?: (kids: string[]) => void;
  /** The signing kid changed after the first load (the operator then re-signs its tickets). */
  onRotate?: (currentKid: string) => void;
}

/** Names, sizes and mtimes (a Secret volume swaps a ..data symlink, which changes the files' mtimes). */
export function dirSignature(dir: string): string {
  try {
    return readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort()
      .map((n) => {
        const s = statSync(join(dir, n));
        return `${n}:${s.size}:${s.mtimeMs}`;
      })
      .join('|');
  } catch {
    return '';
  }
}

export class KeyringWatcher {
  private current: Keyring = Keyring.none();
  private loaded = false;
  private sig?: string;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: KeyringWatcherOptions) {}

  get keyring(): Keyring {
    return this.current;
  }

  /** Reads the directory now; throws its KeyringError (the operator refuses to start without keys). */
  load(): Keyring {
    const sig = dirSignature(this.opts.dir);
    this.apply(loadKeyringDir(this.opts.dir, this.opts));
    this.sig = sig;
    return this.current;
  }

  /** Re-reads the directory if its signature changed; returns the last good keyring. Synchronous. */
  refresh(): Keyring {
    const sig = dirSignature(this.opts.dir);
    if (sig === this.sig) return this.current;
    this.sig = sig;
    this.tryLoad();
    return this.current;
  }

  async start(): Promise<void> {
    await this.reload();
    try {
      this.watcher = watch(this.opts.dir, () => void this.reload());
      this.watcher.on('error', () => {});
    } catch (e) {
      this.opts.logger.warn('cannot watch the ticket key directory; polling only', { dir: this.opts.dir, error: errorMessage(e) });
    }
    this.timer = setInterval(() => void this.reload(), this.opts.pollMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }

  /** Re-reads the directory (serialised: the returned promise settles after a read that started after this call). */
  reload(): Promise<void> {
    this.chain = this.chain.then(() => {
      this.sig = dirSignature(this.opts.dir);
      this.tryLoad();
    });
    return this.chain;
  }

  private tryLoad(): void {
    try {
      this.apply(loadKeyringDir(this.opts.dir, this.opts));
    } catch (e) {
      this.opts.logger.error('cannot read the ticket key directory; keeping the previous keys', { dir: this.opts.dir, error: errorMessage(e) });
    }
  }

  private apply(next: Keyring): void {
    const first = !this.loaded;
    const prev = this.current;
    this.current = next;
    this.loaded = true;
    if (!first && next.equals(prev)) return;
    this.opts.logger.info('ticket keyring loaded', { dir: this.opts.dir, kids: next.kids(), current: next.currentKid });
    this.opts.onChange?.(next.kids());
    if (!first && prev.currentKid !== next.currentKid) this.opts.onRotate?.(next.currentKid);
  }
}
