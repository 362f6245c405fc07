// The operator's view of the ticket keyring directory: the last good keyring, re-read when the
// directory changes; a change of signing key is reported so tickets get re-signed.
import { loadKeyringDir, type Keyring } from './keyring.js';
import { dirSignature } from '../util/dir-watch.js';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';

/** Keeps the last good keyring; re-reads the directory when it changes. */
export class KeyringSource {
  private sig = '';
  private ring: Keyring;
  constructor(private readonly dir: string, private readonly log: Logger) {
    this.ring = loadKeyringDir(dir);
    this.sig = dirSignature(dir);
  }
  /** Called when the signing key changes (claims are then re-queued to re-sign their tickets). */
  onRotate: () => void = () => {};

  get(): Keyring {
    const s = dirSignature(this.dir);
    if (s !== this.sig) {
      this.sig = s;
      try {
        const prev = this.ring.currentKid;
        this.ring = loadKeyringDir(this.dir);
        this.log.info('ticket keyring reloaded', { kids: this.ring.kids(), current: this.ring.currentKid });
        if (prev !== this.ring.currentKid) this.onRotate();
      } catch (err) {
        this.log.error('ticket keyring reload failed; keeping the previous keys', { error: errorMessage(err) });
      }
    }
    return this.ring;
  }
}
