// Status conditions: set one, keeping lastTransitionTime when the status did not change.
import type { Condition } from '@avec/api';

export interface ConditionInput {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export function setCondition(conds: readonly Condition[], c: ConditionInput, generation: number | undefined, nowIso: string): Condition[] {
  const prev = conds.find((x) => x.type === c.type);
  const next: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : nowIso,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  const out = conds.filter((x) => x.type !== c.type);
  out.push(next);
  return out.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export const findCondition = (conds: readonly Condition[] | undefined, type: string): Condition | undefined =>
  conds?.find((c) => c.type === type);
