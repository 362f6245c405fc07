// Ticket keyring from a directory (a mounted Secret: one file per key id, the file holds the key bytes).
// Re-read on change and periodically, so keys rotate without a restart and without touching live sessions.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Keyring } from './ticket.js';

// docs/tickets.md, "Keyring on disk": kid syntax, `current` reserved (names the signing kid), >= 32 key bytes.
const KID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}$/;
const RESERVED = new Set(['current']);
const MIN_KEY_BYTES = 32;

/** Reads every regular file whose name is a valid key id; kubelet's `..data` links and dot files are skipped. */
export async function readKeyringDir(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of (await readdir(dir)).sort()) {
    if (!KID.test(name) || RESERVED.has(name)) continue;
    const path = join(dir, name);
    const st = await stat(path); // follows the Secret volume's symlinks
    if (!st.isFile()) continue;
    const key = await readFile(path);
    if (key.length < MIN_KEY_BYTES) continue; // not a valid key (or a half-written file)
    out.set(name, new Uint8Array(key));
  }
  return out;
}

export interface KeyringWatcherOptions {
  dir: string;
  logger: Logger;
  pollMs?: number;
  onChange?: (kids: string[]) => void;
}

export class KeyringWatcher {
  private current: Map<string, Uint8Array> = new Map();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: KeyringWatcherOptions) {}

  get keyring(): Keyring {
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

  /**
   * Re-reads the directory (serialised: the returned promise settles after a read that started after
   * this call). A failed read keeps the previous keys, never an empty keyring by accident.
   */
  reload(): Promise<void> {
    this.chain = this.chain.then(() => this.doReload());
    return this.chain;
  }

  private async doReload(): Promise<void> {
    let next: Map<string, Uint8Array>;
    try {
      next = await readKeyringDir(this.opts.dir);
    } catch (e) {
      this.opts.logger.error('cannot read the ticket key directory', { dir: this.opts.dir, error: errorMessage(e) });
      return;
    }
    const before = [...this.current.keys()].sort().join(',');
    const after = [...next.keys()].sort().join(',');
    const changed = before !== after || [...next].some(([k, v]) => !Buffer.from(v).equals(Buffer.from(this.current.get(k) ?? [])));
    this.current = next;
    if (changed) {
      this.opts.logger.info('ticket keyring loaded', { dir: this.opts.dir, kids: [...next.keys()] });
      this.opts.onChange?.([...next.keys()]);
    }
  }
}
