// The one error type of avec's TypeScript code: a machine-readable code and a human message
// ({ code, details } style). `unknown` is narrowed here, once.
export class AvecError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AvecError';
  }
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/** The machine-readable code of an AvecError (or of any error carrying a string `code`). */
export function errorCode(err: unknown): string | undefined {
  if (err instanceof AvecError) return err.code;
  if (typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string') return (err as { code: string }).code;
  return undefined;
}
