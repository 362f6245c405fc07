// The zod schemas operator, remoting server and e2e parse CRs with and the CRDs the API server validates with must name
// the same fields; this catches one being changed without the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { z } from 'zod';
import { claimSpecSchema, claimStatusSchema, claimAllocationSchema } from './claim.js';
import { gpuNodeSpecSchema, gpuNodeStatusSchema, gpuDeviceSchema, siteLinkSchema, gpuAllocationSchema } from './gpunode.js';

const crdDir = join(dirname(fileURLToPath(import.meta.url)), '../../../crds');
interface Prop { properties?: Record<string, Prop>; items?: Prop }
function schemaOf(file: string): Prop {
  const crd = load(readFileSync(join(crdDir, file), 'utf8')) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Prop } }> } };
  return crd.spec.versions.find((v) => v.name === 'v1alpha1')!.schema.openAPIV3Schema;
}
const keys = (p: Prop | undefined): string[] => Object.keys(p?.properties ?? {}).sort();
const shapeKeys = (s: z.ZodObject): string[] => Object.keys(s.shape).sort();
const inner = (s: z.ZodType): z.ZodObject => {
  let t: unknown = s;
  while (t && !(t instanceof z.ZodObject)) t = (t as { unwrap?: () => unknown }).unwrap?.() ?? (t as { def?: { innerType?: unknown } }).def?.innerType;
  return t as z.ZodObject;
};

test('VirtualGPUClaim CRD and zod schema agree', () => {
  const root = schemaOf('virtualgpuclaims.yaml');
  const spec = root.properties!.spec;
  assert.deepEqual(keys(spec), shapeKeys(claimSpecSchema));
  assert.deepEqual(keys(spec.properties!.placement), shapeKeys(inner(claimSpecSchema.shape.placement)));
  assert.deepEqual(keys(spec.properties!.selector), shapeKeys(inner(claimSpecSchema.shape.selector)));
  assert.deepEqual(keys(root.properties!.status), shapeKeys(claimStatusSchema));
  assert.deepEqual(keys(root.properties!.status.properties!.allocation), shapeKeys(claimAllocationSchema));
});

test('GPUNode CRD and zod schema agree', () => {
  const root = schemaOf('gpunodes.yaml');
  const spec = root.properties!.spec;
  assert.deepEqual(keys(spec), shapeKeys(gpuNodeSpecSchema));
  assert.deepEqual(keys(spec.properties!.devices.items), shapeKeys(gpuDeviceSchema));
  assert.deepEqual(keys(spec.properties!.links.items), shapeKeys(siteLinkSchema));
  assert.deepEqual(keys(root.properties!.status), shapeKeys(gpuNodeStatusSchema));
  assert.deepEqual(keys(root.properties!.status.properties!.allocations.items), shapeKeys(gpuAllocationSchema));
});
