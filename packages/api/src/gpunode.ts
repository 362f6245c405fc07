// GPUNode (avec.dev/v1alpha1, cluster-scoped): types and zod schema.
import { z } from 'zod';
import { objectMetaSchema, conditionSchema } from './meta.js';

export const gpuDeviceSchema = z.object({
  uuid: z.string().min(1),
  model: z.string(),
  memoryBytes: z.number().int().min(0),
  computeCapability: z.string().regex(/^[0-9]+\.[0-9]+$/),
});
export type GPUDevice = z.infer<typeof gpuDeviceSchema>;

export const siteLinkSchema = z.object({
  site: z.string(),
  rttMs: z.number().min(0),
  bandwidthMbps: z.number().min(0).optional(),
  source: z.enum(['measured', 'declared']).default('declared'),
  measuredTime: z.string().optional(),
});
export type SiteLink = z.infer<typeof siteLinkSchema>;

export const gpuAllocationSchema = z.object({
  claimUID: z.string(),
  claim: z.string(),
  memoryBytes: z.number().int().min(0),
  computePercent: z.number().int().min(1).max(100),
  deviceUUID: z.string(),
  /** Id of the claim reservation this allocation belongs to (absent on allocations made without one). */
  reservation: z.string().optional(),
});
export type GPUAllocation = z.infer<typeof gpuAllocationSchema>;

export const gpuNodeSpecSchema = z.object({
  nodeName: z.string(),
  site: z.string().default(''),
  endpoint: z.string(),
  devices: z.array(gpuDeviceSchema).default([]),
  links: z.array(siteLinkSchema).default([]),
});
export type GPUNodeSpec = z.infer<typeof gpuNodeSpecSchema>;

export const gpuNodeStatusSchema = z.object({
  heartbeatTime: z.union([z.string(), z.date()]).optional(),
  capacity: z.object({ memoryBytes: z.number().int().optional(), devices: z.number().int().optional() }).optional(),
  allocatedMemoryBytes: z.number().int().optional(),
  /** Human units for `kubectl get gpunodes` (written by the operator with allocations). */
  memory: z.object({ capacity: z.string(), allocated: z.string(), free: z.string() }).optional(),
  allocations: z.array(gpuAllocationSchema).default([]),
  conditions: z.array(conditionSchema).default([]),
});
export type GPUNodeStatus = z.infer<typeof gpuNodeStatusSchema>;

export const gpuNodeSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema,
  spec: gpuNodeSpecSchema,
  status: gpuNodeStatusSchema.optional(),
});
export type GPUNode = z.infer<typeof gpuNodeSchema>;
