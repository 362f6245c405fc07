// Keyring problems: avec's one error type (AvecError) with a machine-readable code (KeyringEmpty,
// KeyringBadKid, ...) and a human message. errorMessage is the one of @avec/common.
import { AvecError } from '@avec/common';

export { errorMessage } from '@avec/common';

export class KeyringError extends AvecError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'KeyringError';
  }
}
