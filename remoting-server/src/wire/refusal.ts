// How an admission refusal reaches the client: the HELLO status and the avec_hello_refusal reason code
// (avec_wire.h), from the reason names the server uses in logs and metrics. Pure.
import { TICKET_REFUSALS, type TicketRefusal } from '@avec/tickets';
import { ADMISSION_REFUSALS, type AdmissionRefusal } from '../sessions/admission.js';

import { MAX_REFUSAL_MESSAGE, STATUS_BAD_TICKET, STATUS_REFUSED } from './wire-constants.js';

/** AVEC_STATUS_* of a refused HELLO, and AVEC_MAX_REFUSAL_MESSAGE (the addon cuts longer messages at a UTF-8 boundary). */
export { MAX_REFUSAL_MESSAGE, STATUS_BAD_TICKET, STATUS_REFUSED };

/** AVEC_REFUSAL_* codes; `refusal.test.ts` checks them against the header's values the addon exports. */
export const REFUSAL_CODES = {
  UNSPECIFIED: 0,
  TICKET_MALFORMED: 1,
  TICKET_UNKNOWN_KEY: 2,
  TICKET_BAD_SIGNATURE: 3,
  TICKET_EXPIRED: 4,
  TICKET_NOT_YET_VALID: 5,
  TICKET_WRONG_NODE: 6,
  TICKET_UNSUPPORTED: 7,
  DRAINING: 16,
  NODE_SESSION_LIMIT: 17,
  CLAIM_SESSION_LIMIT: 18,
  UNKNOWN_DEVICE: 19,
  INSUFFICIENT_MEMORY: 20,
  COMPUTE_SHARE: 21,
  TOO_MANY_CONNECTIONS: 22,
  HELLO_TIMEOUT: 23,
  /** A joined connection (stripe, callback connection): unknown session, wrong token or index. */
  STRIPE_REFUSED: 24,
  EXECUTOR_FAILED: 32,
  SERVER_ERROR: 33,
} as const;
export type RefusalCodeName = keyof typeof REFUSAL_CODES;

/** Refusals decided by the server itself rather than by ticket or policy. */
export type ServerRefusal = 'executor-failed' | 'server-error';
export type RefusalReason = `ticket-${TicketRefusal}` | AdmissionRefusal | ServerRefusal;

const TICKET_CODE: Record<TicketRefusal, RefusalCodeName> = {
  malformed: 'TICKET_MALFORMED',
  'unsupported-version': 'TICKET_UNSUPPORTED',
  'unknown-kid': 'TICKET_UNKNOWN_KEY',
  'bad-signature': 'TICKET_BAD_SIGNATURE',
  expired: 'TICKET_EXPIRED',
  'not-yet-valid': 'TICKET_NOT_YET_VALID',
  'wrong-node': 'TICKET_WRONG_NODE',
};

const POLICY_CODE: Record<AdmissionRefusal | ServerRefusal, RefusalCodeName> = {
  draining: 'DRAINING',
  'node-session-limit': 'NODE_SESSION_LIMIT',
  'claim-session-limit': 'CLAIM_SESSION_LIMIT',
  'unknown-device': 'UNKNOWN_DEVICE',
  'insufficient-memory': 'INSUFFICIENT_MEMORY',
  'executor-failed': 'EXECUTOR_FAILED',
  'server-error': 'SERVER_ERROR',
};

export interface HelloRefusal {
  status: number;
  code: number;
  /** For the person reading the client's log line. */
  message: string;
}

/** Ticket problems keep BAD_TICKET (what clients have always seen for them); the rest are REFUSED. */
export function helloRefusal(reason: RefusalReason, message: string): HelloRefusal {
  if (reason.startsWith('ticket-')) {
    const t = reason.slice('ticket-'.length) as TicketRefusal;
    return { status: STATUS_BAD_TICKET, code: REFUSAL_CODES[TICKET_CODE[t] ?? 'UNSPECIFIED'], message };
  }
  return { status: STATUS_REFUSED, code: REFUSAL_CODES[POLICY_CODE[reason as AdmissionRefusal | ServerRefusal] ?? 'UNSPECIFIED'], message };
}

/** Every reason name the server can refuse with (for tests). */
export const REFUSAL_REASONS: ReadonlyArray<RefusalReason> = [
  ...TICKET_REFUSALS.map((t) => `ticket-${t}` as const),
  ...ADMISSION_REFUSALS,
  'executor-failed',
  'server-error',
];
