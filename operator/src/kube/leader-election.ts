// Leader election over a coordination.k8s.io/v1 Lease: the pure decision (this file) and the
// loop that does the I/O (leader-elector.ts). Timings: lease 15 s, renew deadline 10 s, retry 2 s.
// Expiry is judged from when *this* replica last saw the record change (not from the holder's
// renewTime), so clock skew between replicas does not matter.

export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface ElectionTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}
export const DEFAULT_TIMINGS: ElectionTimings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** What this replica last saw of the lease and when the record last changed. */
export interface Observation {
  record?: LeaseRecord;
  observedAtMs: number;
}

export type ElectionAction =
  | { kind: 'create'; record: LeaseRecord }
  | { kind: 'update'; record: LeaseRecord; takeover: boolean }
  | { kind: 'wait'; holder: string; expiresInMs: number };

const sameRecord = (a?: LeaseRecord, b?: LeaseRecord): boolean =>
  a?.holderIdentity === b?.holderIdentity && a?.renewTime === b?.renewTime && a?.leaseTransitions === b?.leaseTransitions;

/** Fold a freshly read record into the observation. */
export function observe(prev: Observation | undefined, record: LeaseRecord | undefined, nowMs: number): Observation {
  if (prev && sameRecord(prev.record, record)) return prev;
  return { record, observedAtMs: nowMs };
}

export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, '000Z');

/** Decide what to do given the current observation of the lease (undefined record = no Lease object). */
export function decide(identity: string, obs: Observation, nowMs: number, t: ElectionTimings = DEFAULT_TIMINGS): ElectionAction {
  const now = microTime(nowMs);
  const durationS = Math.round(t.leaseDurationMs / 1000);
  const r = obs.record;
  if (r === undefined) {
    return { kind: 'create', record: { holderIdentity: identity, leaseDurationSeconds: durationS, acquireTime: now, renewTime: now, leaseTransitions: 0 } };
  }
  const holder = r.holderIdentity ?? '';
  if (holder === identity) {
    return { kind: 'update', takeover: false, record: { ...r, leaseDurationSeconds: durationS, renewTime: now } };
  }
  const durMs = (r.leaseDurationSeconds ?? durationS) * 1000;
  const expiresInMs = obs.observedAtMs + durMs - nowMs;
  if (holder !== '' && expiresInMs > 0) return { kind: 'wait', holder, expiresInMs };
  return {
    kind: 'update',
    takeover: true,
    record: {
      holderIdentity: identity,
      leaseDurationSeconds: durationS,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (r.leaseTransitions ?? 0) + 1,
    },
  };
}

/** A leader that could not renew within the renew deadline must stop acting as leader. */
export function mustStepDown(lastRenewMs: number, nowMs: number, t: ElectionTimings = DEFAULT_TIMINGS): boolean {
  return nowMs - lastRenewMs > t.renewDeadlineMs;
}

/** The record a leader writes when it shuts down, so a successor need not wait for expiry. */
export function released(r: LeaseRecord, nowMs: number): LeaseRecord {
  return { ...r, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(nowMs) };
}
