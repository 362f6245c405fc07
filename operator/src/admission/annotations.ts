// Pod annotations that opt a pod into a remote GPU, parsed and validated (messages say what's wrong).
import { ANN_CLAIM, ANN_GPU_COMPUTE, ANN_GPU_MAX_LATENCY, ANN_GPU_MEMORY, ANN_GPU_POLICY, ANN_INLINE, MAX_CLAIM_NAME, MAX_LATENCY_MS } from '@avec/api';
import { parseQuantityBytes } from '../util/quantity.js';
import { errorMessage } from '@avec/common';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface InlineRequest {
  memory: string;
  memoryBytes: number;
  computePercent?: number;
  maxLatencyMs?: number;
  policy?: 'nearest' | 'binpack' | 'spread';
}

export type PodGPURequest =
  | { kind: 'none' }
  | { kind: 'claim'; claim: string }
  | { kind: 'inline'; inline: InlineRequest };

export type ParseResult = { ok: true; request: PodGPURequest } | { ok: false; message: string };

export function validClaimName(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_CLAIM_NAME) return `must be at most ${MAX_CLAIM_NAME} characters`;
  if (!DNS1123_SUBDOMAIN.test(name)) {
    return 'must be a DNS-1123 subdomain (lower-case letters, digits, "-" and ".", starting and ending with a letter or digit)';
  }
  return undefined;
}

export function parsePodAnnotations(ann: Record<string, string> | undefined): ParseResult {
  const a = ann ?? {};
  const claim = a[ANN_CLAIM];
  const mem = a[ANN_GPU_MEMORY];
  const inlineOnly = [ANN_GPU_COMPUTE, ANN_GPU_MAX_LATENCY, ANN_GPU_POLICY].filter((k) => a[k] !== undefined);
  const bad = (message: string): ParseResult => ({ ok: false, message });
  if (claim !== undefined && a[ANN_INLINE] === undefined && mem !== undefined) {
    return bad(`annotations ${ANN_CLAIM} and ${ANN_GPU_MEMORY} are exclusive: name an existing claim or ask for memory inline, not both`);
  }
  if (claim !== undefined && mem === undefined) {
    if (inlineOnly.length > 0) return bad(`annotation ${inlineOnly[0]} applies only with ${ANN_GPU_MEMORY}; set it on the claim ${claim} instead`);
    const why = validClaimName(claim);
    if (why) return bad(`annotation ${ANN_CLAIM}="${claim}": the claim name ${why}`);
    return { ok: true, request: { kind: 'claim', claim } };
  }
  if (mem === undefined) {
    if (inlineOnly.length > 0) return bad(`annotation ${inlineOnly[0]} needs ${ANN_GPU_MEMORY} (e.g. "8Gi")`);
    return { ok: true, request: { kind: 'none' } };
  }
  let memoryBytes: number;
  try {
    memoryBytes = parseQuantityBytes(mem);
  } catch (err) {
    return bad(`annotation ${ANN_GPU_MEMORY}="${mem}": ${errorMessage(err)}`);
  }
  if (memoryBytes <= 0) return bad(`annotation ${ANN_GPU_MEMORY}="${mem}": must be greater than zero`);
  const inline: InlineRequest = { memory: mem.trim(), memoryBytes };
  const cp = a[ANN_GPU_COMPUTE];
  if (cp !== undefined) {
    const n = Number(cp);
    if (!/^[0-9]+$/.test(cp.trim()) || n < 1 || n > 100) {
      return bad(`annotation ${ANN_GPU_COMPUTE}="${cp}": must be a whole number from 1 to 100`);
    }
    inline.computePercent = n;
  }
  const lat = a[ANN_GPU_MAX_LATENCY];
  if (lat !== undefined) {
    const n = Number(lat);
    if (lat.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_LATENCY_MS) {
      return bad(`annotation ${ANN_GPU_MAX_LATENCY}="${lat}": must be a number of milliseconds from 0 to ${MAX_LATENCY_MS}`);
    }
    inline.maxLatencyMs = n;
  }
  const pol = a[ANN_GPU_POLICY];
  if (pol !== undefined) {
    if (pol !== 'nearest' && pol !== 'binpack' && pol !== 'spread') {
      return bad(`annotation ${ANN_GPU_POLICY}="${pol}": must be one of nearest, binpack, spread`);
    }
    inline.policy = pol;
  }
  return { ok: true, request: { kind: 'inline', inline } };
}
