// Admission policy for a verified ticket: pure (state in, decision out), so every rule is unit-tested.
import { claimKey, type TicketPayload } from '@avec/tickets';

export interface DeviceView {
  ordinal: number;
  uuid: string;
  memoryBytes: number;
}

export interface AdmissionLimits {
  maxSessions: number;
  maxSessionsPerClaim: number;
}

export interface AdmissionInput {
  payload: TicketPayload;
  /** An NVML-style query session (HELLO flag AVEC_HELLO_INFO_ONLY): no context, no allocations. */
  infoOnly?: boolean;
  draining: boolean;
  /** Sessions that count against limits: running and pending (reserved by OpenSession), adopted ones included. */
  liveSessions: ReadonlyArray<{ claim: string; claimUid?: string; infoOnly?: boolean }>;
  /** This node's devices; empty when the inventory is not known (then only `dev: ""` is admitted). */
  devices: ReadonlyArray<DeviceView>;
  limits: AdmissionLimits;
}

export const ADMISSION_REFUSALS = ['draining', 'node-session-limit', 'claim-session-limit', 'unknown-device', 'insufficient-memory'] as const;
export type AdmissionRefusal = (typeof ADMISSION_REFUSALS)[number];

export type AdmissionDecision =
  | { admit: true; claim: string; deviceOrdinal: number; deviceUuid: string; memoryLimit: number; computePercent: number }
  | { admit: false; reason: AdmissionRefusal; message: string };

export function decideAdmission(input: AdmissionInput): AdmissionDecision {
  const { payload, limits } = input;
  const claim = claimKey(payload);
  if (input.draining) return { admit: false, reason: 'draining', message: 'this node is draining and admits no new sessions' };
  if (input.liveSessions.length >= limits.maxSessions) {
    return { admit: false, reason: 'node-session-limit', message: `node has ${input.liveSessions.length} sessions (limit ${limits.maxSessions})` };
  }
  // Info-only sessions (a process's NVML connection next to its CUDA one) hold no GPU memory or
  // context, so they do not use up the claim's session budget.
  // A ticket's `maxs` can only lower the server's per-claim cap (docs/tickets.md, "Replays").
  const perClaim = Math.min(limits.maxSessionsPerClaim, payload.maxs ?? Number.POSITIVE_INFINITY);
  // By name or by uid: sessions adopted after a server restart know their claim by uid only.
  const ofClaim = input.liveSessions.filter((s) => (s.claim === claim || (s.claimUid !== undefined && s.claimUid === payload.uid)) && !s.infoOnly).length;
  if (!input.infoOnly && ofClaim >= perClaim) {
    return { admit: false, reason: 'claim-session-limit', message: `claim ${claim} has ${ofClaim} sessions (limit ${perClaim})` };
  }
  let device: DeviceView | undefined;
  if (payload.dev === '') {
    device = input.devices[0];
  } else {
    device = input.devices.find((d) => d.uuid === payload.dev);
    if (!device) return { admit: false, reason: 'unknown-device', message: `device ${payload.dev} is not on this node` };
  }
  if (payload.mem <= 0) return { admit: false, reason: 'insufficient-memory', message: 'ticket grants no memory' };
  if (device && payload.mem > device.memoryBytes) {
    return {
      admit: false,
      reason: 'insufficient-memory',
      message: `ticket grants ${payload.mem} bytes, device ${device.uuid} has ${device.memoryBytes}`,
    };
  }
  return {
    admit: true,
    claim,
    deviceOrdinal: device?.ordinal ?? 0,
    deviceUuid: device?.uuid ?? '',
    memoryLimit: payload.mem,
    computePercent: payload.cpct,
  };
}
