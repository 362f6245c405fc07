// The per-claim Secret (avec-claim-<claim>: endpoint, ticket, claim) and when its ticket is re-signed.
import type { TicketPayload } from '@avec/tickets';
import { CLAIM_KIND, GROUP, VERSION, secretNameFor } from '@avec/api';

export type TicketClaims = Omit<TicketPayload, 'v' | 'kid' | 'iat' | 'exp'>;

/** Re-sign when the binding changed, the signing key rotated, or a third of the lifetime is left. */
export function ticketNeedsRefresh(current: TicketPayload | undefined, want: TicketClaims, currentKid: string, nowS: number, ttlS: number): boolean {
  if (!current) return true;
  const k = Object.keys(want) as Array<keyof TicketClaims>;
  if (k.some((f) => current[f] !== want[f])) return true;
  if (current.kid !== currentKid) return true;
  return current.exp - nowS < ttlS / 3;
}

/** Seconds until the ticket should be refreshed (for requeueing). */
export function refreshInSeconds(current: TicketPayload, nowS: number, ttlS: number): number {
  return Math.max(1, current.exp - Math.floor(ttlS / 3) - nowS);
}

export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  type: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels: Record<string, string>;
    ownerReferences: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller: boolean }>;
  };
  data: Record<string, string>;
}

export function renderClaimSecret(claim: { name: string; namespace: string; uid: string }, endpoint: string, ticket: string): SecretObject {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'avec.dev/claim',
    metadata: {
      name: secretNameFor(claim.name),
      namespace: claim.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'avec-operator', 'avec.dev/claim': claim.name.slice(0, 63).replace(/[-.]+$/, '') },
      ownerReferences: [{ apiVersion: `${GROUP}/${VERSION}`, kind: CLAIM_KIND, name: claim.name, uid: claim.uid, controller: true }],
    },
    data: { endpoint: b64(endpoint), ticket: b64(ticket), claim: b64(`${claim.namespace}/${claim.name}`) },
  };
}
