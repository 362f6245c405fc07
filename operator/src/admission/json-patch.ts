// RFC 6902 JSON Patch, the subset the webhook emits ("add"), plus an applier used by tests and
// for computing the mutated pod.
export interface JsonPatchAdd {
  op: 'add';
  path: string;
  value: unknown;
}
export type JsonPatch = JsonPatchAdd[];

/** Escape one reference token (RFC 6901): "~" -> "~0", "/" -> "~1". */
export const ptr = (token: string | number): string => String(token).replace(/~/g, '~0').replace(/\//g, '~1');

export function applyPatch<T>(doc: T, patch: JsonPatch): T {
  const root = structuredClone(doc) as unknown;
  for (const op of patch) {
    const tokens = op.path.split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    if (last === undefined) throw new Error(`bad patch path ${op.path}`);
    let cur = root as Record<string, unknown> | unknown[];
    for (const t of tokens) {
      const next = Array.isArray(cur) ? cur[Number(t)] : cur[t];
      if (typeof next !== 'object' || next === null) throw new Error(`patch path ${op.path}: ${t} missing`);
      cur = next as Record<string, unknown> | unknown[];
    }
    const value = structuredClone(op.value);
    if (Array.isArray(cur)) {
      if (last === '-') cur.push(value);
      else cur.splice(Number(last), 0, value);
    } else {
      cur[last] = value;
    }
  }
  return root as T;
}
