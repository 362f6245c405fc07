// Errors from the API server (or the way to it), carrying a code and a human message.

/** `status` is the HTTP status (0: transport or decoding failure); `code` the Status reason (`Conflict`, `NotFound`, ...). */
export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

/** The HTTP status of a failed call, or undefined when `err` did not come from the client. */
export const statusOf = (err: unknown): number | undefined => (err instanceof KubeError ? err.status : undefined);

export const isStatus = (err: unknown, status: number): boolean => statusOf(err) === status;

/** A configuration problem (unreadable or incomplete kubeconfig, no way to reach a cluster). */
export class KubeconfigError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeconfigError';
  }
}
