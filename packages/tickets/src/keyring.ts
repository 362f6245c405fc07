// Ticket keyring: several keys valid at once (rotation), the newest one signs. On disk (a mounted
// Secret, docs/tickets.md "Keyring on disk"): one file per key id holding the raw key bytes; the
// signing key is the kid named by the file `current` if present, else the lexically greatest kid.
// Names starting with "." (the Secret volume's ..data links) are ignored.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KeyringError, errorMessage } from './errors.js';

export const KID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}$/;
export const MIN_KEY_BYTES = 32;
export const CURRENT_FILE = 'current';

export class Keyring {
  private readonly keys: ReadonlyMap<string, Uint8Array>;
  /** The signing kid; '' only for the empty keyring of `Keyring.none()`. */
  readonly currentKid: string;

  /** Throws KeyringError (KeyringEmpty, KeyringBadKid, KeyringShortKey, KeyringNoCurrent). */
  constructor(keys: ReadonlyMap<string, Uint8Array>, currentKid?: string) {
    if (keys.size === 0) throw new KeyringError('KeyringEmpty', 'the ticket keyring holds no keys');
    for (const [kid, key] of keys) {
      if (!KID_PATTERN.test(kid) || kid === CURRENT_FILE) {
        throw new KeyringError('KeyringBadKid', `ticket key id "${kid}" is not allowed (${KID_PATTERN})`);
      }
      if (key.length < MIN_KEY_BYTES) {
        throw new KeyringError('KeyringShortKey', `ticket key "${kid}" has ${key.length} bytes, needs >= ${MIN_KEY_BYTES}`);
      }
    }
    const kid = currentKid ?? [...keys.keys()].sort().at(-1)!;
    if (!keys.has(kid)) throw new KeyringError('KeyringNoCurrent', `current ticket key "${kid}" is not in the keyring`);
    this.keys = new Map(keys);
    this.currentKid = kid;
  }

  /** A keyring without keys: verifies nothing, signs nothing (a verifier whose directory is empty). */
  static none(): Keyring {
    return Object.create(Keyring.prototype, { keys: { value: new Map() }, currentKid: { value: '' } }) as Keyring;
  }

  get size(): number {
    return this.keys.size;
  }

  get(kid: string): Uint8Array | undefined {
    return this.keys.get(kid);
  }

  /** The signing key. Throws KeyringEmpty on `Keyring.none()`. */
  current(): { kid: string; key: Uint8Array } {
    const key = this.keys.get(this.currentKid);
    if (!key) throw new KeyringError('KeyringEmpty', 'the ticket keyring holds no keys');
    return { kid: this.currentKid, key };
  }

  kids(): string[] {
    return [...this.keys.keys()].sort();
  }

  /** Same kids, same key bytes, same signing kid. */
  equals(other: Keyring): boolean {
    if (this.currentKid !== other.currentKid || this.size !== other.size) return false;
    for (const [kid, key] of this.keys) {
      const o = other.get(kid);
      if (!o || !Buffer.from(o).equals(Buffer.from(key))) return false;
    }
    return true;
  }
}

export interface LoadKeyringOptions {
  /**
   * What a file that is no valid key does (a bad kid, fewer than MIN_KEY_BYTES bytes, a `current`
   * naming no key): 'throw' (the default; the operator, which must sign with the right key) or
   * 'skip' (the remoting server: it keeps verifying with the valid keys; a half-written file is
   * picked up at the next read; no valid key at all gives `Keyring.none()`).
   */
  invalid?: 'throw' | 'skip';
}

/** Load a keyring directory (see the header comment). Throws KeyringError (KeyringUnreadable, ...). */
export function loadKeyringDir(dir: string, opts: LoadKeyringOptions = {}): Keyring {
  const skip = opts.invalid === 'skip';
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new KeyringError('KeyringUnreadable', `cannot read ticket key directory ${dir}: ${errorMessage(err)}`);
  }
  const keys = new Map<string, Uint8Array>();
  let current: string | undefined;
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    let content: Buffer;
    try {
      if (!statSync(path).isFile()) continue; // follows the Secret volume's symlinks
      content = readFileSync(path);
    } catch (err) {
      if (skip) continue; // gone between readdir and read (a Secret update)
      throw new KeyringError('KeyringUnreadable', `cannot read ticket key ${path}: ${errorMessage(err)}`);
    }
    if (name === CURRENT_FILE) {
      current = content.toString('utf8').trim();
      continue;
    }
    if (skip && (!KID_PATTERN.test(name) || content.length < MIN_KEY_BYTES)) continue;
    keys.set(name, new Uint8Array(content));
  }
  if (skip) {
    if (keys.size === 0) return Keyring.none();
    if (current !== undefined && !keys.has(current)) current = undefined;
  }
  return new Keyring(keys, current);
}
