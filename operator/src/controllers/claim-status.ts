// Pure claim status rendering: (previous status, what reconcile found) -> next status + Events.
import type { ClaimStatus, ClaimAllocation, ClaimPhase } from '@avec/api';
import { setCondition, findCondition } from './conditions.js';

export type ClaimOutcome =
  | { kind: 'bound'; allocation: ClaimAllocation; secretName: string }
  | { kind: 'unplaced'; reason: string; message: string }
  | { kind: 'lost'; reason: string; message: string }
  | { kind: 'invalid'; message: string };

export interface ClaimEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export function renderClaimStatus(prev: ClaimStatus | undefined, out: ClaimOutcome, generation: number | undefined, nowIso: string): ClaimStatus {
  let conds = prev?.conditions ?? [];
  const prevPhase = prev?.phase;
  let phase: ClaimPhase;
  let allocation: ClaimAllocation | undefined;
  let secretName = prev?.secretName;
  switch (out.kind) {
    case 'bound': {
      phase = 'Bound';
      const keepTime = prev?.allocation?.node === out.allocation.node && prev?.allocation?.deviceUUID === out.allocation.deviceUUID;
      allocation = { ...out.allocation, boundTime: (keepTime ? prev?.allocation?.boundTime : undefined) ?? out.allocation.boundTime ?? nowIso };
      secretName = out.secretName;
      const where = `${out.allocation.node}${out.allocation.site ? ` (site ${out.allocation.site})` : ''}`;
      conds = setCondition(conds, { type: 'Scheduled', status: 'True', reason: 'Placed', message: `placed on ${where}, device ${out.allocation.deviceUUID}` }, generation, nowIso);
      conds = setCondition(conds, { type: 'Ready', status: 'True', reason: 'Bound', message: `secret ${out.secretName} holds endpoint ${out.allocation.endpoint} and a ticket` }, generation, nowIso);
      break;
    }
    case 'unplaced':
      phase = prevPhase === 'Lost' || prevPhase === 'Bound' ? 'Lost' : 'Pending';
      allocation = undefined;
      conds = setCondition(conds, { type: 'Scheduled', status: 'False', reason: out.reason, message: out.message }, generation, nowIso);
      conds = setCondition(conds, { type: 'Ready', status: 'False', reason: out.reason, message: 'waiting for a GPU that fits' }, generation, nowIso);
      break;
    case 'lost':
      phase = 'Lost';
      allocation = undefined;
      conds = setCondition(conds, { type: 'Scheduled', status: 'False', reason: out.reason, message: out.message }, generation, nowIso);
      conds = setCondition(conds, { type: 'Ready', status: 'False', reason: out.reason, message: 'the claim will be placed again' }, generation, nowIso);
      break;
    case 'invalid':
      phase = 'Pending';
      allocation = undefined;
      conds = setCondition(conds, { type: 'Scheduled', status: 'False', reason: 'InvalidSpec', message: out.message }, generation, nowIso);
      conds = setCondition(conds, { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: out.message }, generation, nowIso);
      break;
  }
  return {
    phase,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...(secretName !== undefined && phase === 'Bound' ? { secretName } : {}),
    ...(allocation ? { allocation } : {}),
    conditions: conds,
  };
}

/** Events to emit for a status change: one per change of the Scheduled/Ready reason, not per reconcile. */
export function claimEvents(prev: ClaimStatus | undefined, next: ClaimStatus): ClaimEvent[] {
  const out: ClaimEvent[] = [];
  const ps = findCondition(prev?.conditions, 'Scheduled');
  const ns = findCondition(next.conditions, 'Scheduled');
  const pr = findCondition(prev?.conditions, 'Ready');
  const nr = findCondition(next.conditions, 'Ready');
  if (ns && (ps?.reason !== ns.reason || ps?.status !== ns.status || (ns.reason === 'Placed' && prev?.allocation?.node !== next.allocation?.node))) {
    if (ns.status === 'False') out.push({ type: 'Warning', reason: ns.reason ?? 'Unschedulable', message: ns.message ?? '' });
  }
  // The success path stays silent (conditions tell it; an Event per bind doubled the API server's
  // writes): a Bound Event only ends a story a Warning began (the claim waited or lost its GPU).
  const waited = prev?.phase === 'Lost' || ps?.status === 'False';
  if (nr && nr.status === 'True' && waited && (pr?.status !== 'True' || prev?.allocation?.node !== next.allocation?.node)) {
    out.push({ type: 'Normal', reason: 'Bound', message: `bound to ${next.allocation?.node ?? '?'} (${next.allocation?.endpoint ?? '?'})` });
  }
  return out;
}

export function sameStatus(a: ClaimStatus | undefined, b: ClaimStatus): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(s: ClaimStatus | undefined): unknown {
  if (!s) return undefined;
  const sortKeys = (o: unknown): unknown =>
    Array.isArray(o) ? o.map(sortKeys) : o && typeof o === 'object'
      ? Object.fromEntries(Object.entries(o as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sortKeys(v)]))
      : o;
  return sortKeys({ ...s, conditions: [...(s.conditions ?? [])].sort((x, y) => (x.type < y.type ? -1 : 1)) });
}
