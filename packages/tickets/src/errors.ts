// Keyring problems carry a machine-readable code (KeyringEmpty, KeyringBadKid, ...) and a human message.
export class KeyringError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'KeyringError';
    this.code = code;
  }
}

/** Narrow an unknown thrown value once, here, into a message string. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
