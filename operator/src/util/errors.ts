// Errors carry a machine-readable code and a human message ({ code, details } style).
export class AvecError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'AvecError';
    this.code = code;
  }
}

/** Narrow an unknown thrown value once, here, into a message string. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

/** HTTP status code of a failed Kubernetes API call, if any. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  for (const c of [e.code, e.statusCode, e.response?.statusCode]) {
    if (typeof c === 'number') return c;
  }
  return undefined;
}
