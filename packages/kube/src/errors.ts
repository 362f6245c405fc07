// Errors from the API server (or the way to it): avec's one error type (AvecError: a code and a human
// message), with the HTTP status added.
import { ApiException } from '@kubernetes/client-node';
import { AvecError } from '@avec/common';

/** `status` is the HTTP status (0: transport or decoding failure); `code` the Status reason (`Conflict`, `NotFound`, ...). */
export class KubeError extends AvecError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
    this.name = 'KubeError';
  }
}

/** The HTTP status of a failed call, or undefined when `err` did not come from the API server. */
export const statusOf = (err: unknown): number | undefined => (err instanceof KubeError ? err.status : undefined);

export const isStatus = (err: unknown, status: number): boolean => statusOf(err) === status;

/** A configuration problem (unreadable or incomplete kubeconfig, no way to reach a cluster). */
export class KubeconfigError extends AvecError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'KubeconfigError';
  }
}

interface StatusBody {
  reason?: string;
  message?: string;
  code?: number;
}

/** A Status object as client-node hands it over: parsed, or the raw response text. */
function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return statusBody(JSON.parse(body));
    } catch {
      return { message: body.slice(0, 200) };
    }
  }
  return typeof body === 'object' && body !== null ? (body as StatusBody) : {};
}

/** One error type for callers: client-node's ApiException (and transport failures) become KubeErrors. */
export function toKubeError(err: unknown, what: string): KubeError {
  if (err instanceof KubeError) return err;
  if (err instanceof ApiException) {
    const s = statusBody(err.body);
    const status = Number(err.code) || 0;
    return new KubeError(status, s.reason ?? `HTTP${status}`, `${what}: ${status} ${s.message ?? ''}`.trimEnd());
  }
  const e = err as { message?: string; statusCode?: number; cause?: { message?: string } };
  if (typeof e?.statusCode === 'number') return new KubeError(e.statusCode, `HTTP${e.statusCode}`, `${what}: ${e.statusCode} ${e.message ?? ''}`.trimEnd());
  const detail = e?.cause?.message ? `${e.message}: ${e.cause.message}` : (e?.message ?? String(err));
  return new KubeError(0, 'Transport', `${what}: ${detail}`);
}

/** A watch ERROR event's Status (410 Gone: the resourceVersion is too old; relist). */
export function watchStatusError(obj: unknown, what: string): KubeError {
  const s = statusBody(obj);
  return new KubeError(s.code ?? 500, s.reason ?? 'WatchError', `${what}: ${s.message ?? 'error event'}`);
}
