// Ticket keyring: several keys valid at once (rotation), the newest one signs.
// On disk (a mounted Secret): one file per key id holding the raw key bytes; the signing key is the
// kid named by the file `current` if present, else the lexically greatest kid. Names starting with
// "." (the Secret volume's ..data links) are ignored. See docs/tickets.md.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AvecError } from '../util/errors.js';

export const KID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}$/;
export const MIN_KEY_BYTES = 32;
export const CURRENT_FILE = 'current';

export class Keyring {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly currentKid: string;

  constructor(keys: Map<string, Buffer>, currentKid?: string) {
    if (keys.size === 0) throw new AvecError('KeyringEmpty', 'the ticket keyring holds no keys');
    for (const [kid, key] of keys) {
      if (!KID_PATTERN.test(kid) || kid === CURRENT_FILE) {
        throw new AvecError('KeyringBadKid', `ticket key id "${kid}" is not allowed (${KID_PATTERN})`);
      }
      if (key.length < MIN_KEY_BYTES) {
        throw new AvecError('KeyringShortKey', `ticket key "${kid}" has ${key.length} bytes, needs >= ${MIN_KEY_BYTES}`);
      }
    }
    const kid = currentKid ?? [...keys.keys()].sort().at(-1)!;
    if (!keys.has(kid)) throw new AvecError('KeyringNoCurrent', `current ticket key "${kid}" is not in the keyring`);
    this.keys = new Map(keys);
    this.currentKid = kid;
  }

  get(kid: string): Buffer | undefined {
    return this.keys.get(kid);
  }

  current(): { kid: string; key: Buffer } {
    return { kid: this.currentKid, key: this.keys.get(this.currentKid)! };
  }

  kids(): string[] {
    return [...this.keys.keys()].sort();
  }
}

/** Load a keyring directory (see the header comment). */
export function loadKeyringDir(dir: string): Keyring {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new AvecError('KeyringUnreadable', `cannot read ticket key directory ${dir}: ${(err as Error).message}`);
  }
  const keys = new Map<string, Buffer>();
  let current: string | undefined;
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    if (name === CURRENT_FILE) {
      current = readFileSync(path, 'utf8').trim();
      continue;
    }
    keys.set(name, readFileSync(path));
  }
  return new Keyring(keys, current);
}
