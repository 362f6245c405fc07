// VirtualGPUClaim (avec.dev/v1alpha1): types and the zod schema that parses a CR from the API server.
import { z } from 'zod';
import { objectMetaSchema, conditionSchema } from './meta.js';

/** A site is a label value (it comes from topology.kubernetes.io/zone or avec.dev/site); crds/ checks the same. */
export const SITE_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export const siteSchema = z.string().max(63).regex(SITE_PATTERN, 'a site is a label value (letters, digits, "-", "_", ".", starting and ending with a letter or digit)');
/** Largest latency budget a claim may ask for (one minute; crds/ checks the same). */
export const MAX_LATENCY_MS = 60_000;

/** Largest per-claim session cap a claim may ask for (crds/ checks the same). */
export const MAX_SESSIONS_PER_CLAIM = 1_000;

export const placementPolicySchema = z.enum(['nearest', 'binpack', 'spread']);
export type PlacementPolicy = z.infer<typeof placementPolicySchema>;

export const claimSpecSchema = z.object({
  memory: z.union([z.string().min(1), z.number().int().positive()]),
  computePercent: z.number().int().min(1).max(100).default(100),
  count: z.number().int().min(1).max(1).default(1),
  /** Concurrent sessions the claim may hold on its node (signed into its tickets as `maxs`); absent: the operator's default. */
  maxSessions: z.number().int().min(1).max(MAX_SESSIONS_PER_CLAIM).optional(),
  placement: z
    .object({
      site: siteSchema.optional(),
      sites: z.array(siteSchema).default([]),
      siteMode: z.enum(['Required', 'Preferred']).default('Required'),
      maxLatencyMs: z.number().min(0).max(MAX_LATENCY_MS).optional(),
      policy: placementPolicySchema.default('nearest'),
    })
    .default({ sites: [], siteMode: 'Required', policy: 'nearest' }),
  selector: z
    .object({
      models: z.array(z.string()).default([]),
      minComputeCapability: z.string().regex(/^[0-9]+\.[0-9]+$/).optional(),
    })
    .default({ models: [] }),
});
export type ClaimSpec = z.infer<typeof claimSpecSchema>;

export const claimPhaseSchema = z.enum(['Pending', 'Bound', 'Lost']);
export type ClaimPhase = z.infer<typeof claimPhaseSchema>;

export const claimAllocationSchema = z.object({
  node: z.string(),
  site: z.string().optional(),
  deviceUUID: z.string(),
  endpoint: z.string(),
  memoryBytes: z.number().int(),
  computePercent: z.number().int(),
  latencyMs: z.number().optional(),
  boundTime: z.string().optional(),
});
export type ClaimAllocation = z.infer<typeof claimAllocationSchema>;

export const claimStatusSchema = z.object({
  phase: claimPhaseSchema.optional(),
  observedGeneration: z.number().int().optional(),
  secretName: z.string().optional(),
  allocation: claimAllocationSchema.optional(),
  conditions: z.array(conditionSchema).default([]),
});
export type ClaimStatus = z.infer<typeof claimStatusSchema>;

export const claimSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema,
  spec: claimSpecSchema,
  status: claimStatusSchema.optional(),
});
export type VirtualGPUClaim = z.infer<typeof claimSchema>;

export const claimKey = (c: { metadata: { namespace?: string; name: string } }): string =>
  `${c.metadata.namespace ?? ''}/${c.metadata.name}`;
