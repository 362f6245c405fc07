// The pure mutating-admission decision: pod (+ context) -> allow with a JSON patch, or deny with a
// message. Injection per DESIGN.md: an init container copies the shim from the shim image into an
// emptyDir, every container preloads it (LD_PRELOAD and /etc/ld.so.preload), the claim Secret is
// mounted at /var/run/avec/claim, and a scheduling gate holds the pod until the claim is Bound.
import { ANN_CLAIM, ANN_GPU_MAX_LATENCY, ANN_INJECTED, ANN_INLINE, LABEL_MANAGED, MAX_CLAIM_NAME, SCHEDULING_GATE, SITE_LABEL, ZONE_LABEL, secretNameFor } from '@avec/api';
import { z } from 'zod';
import { ptr, type JsonPatch } from './json-patch.js';
import { parsePodAnnotations } from './annotations.js';
import { podSite, type PodPlacementView } from './pod-site.js';

export const SHIM_VOLUME = 'avec-shim';
export const CLAIM_VOLUME = 'avec-claim';
export const SHIM_DIR = '/var/run/avec/lib';
export const CLAIM_DIR = '/var/run/avec/claim';
export const PRELOAD_FILE = '/etc/ld.so.preload';
export const INIT_CONTAINER = 'avec-shim-install';
export const SHIM_LIBS = ['libcuda.so.1', 'libnvidia-ml.so.1'];

const envVarSchema = z.looseObject({ name: z.string(), value: z.string().optional(), valueFrom: z.unknown().optional() });
const containerSchema = z.looseObject({
  name: z.string(),
  env: z.array(envVarSchema).optional(),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string() })).optional(),
});
export const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string().optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.looseObject({
    nodeName: z.string().optional(),
    containers: z.array(containerSchema),
    initContainers: z.array(containerSchema).optional(),
    volumes: z.array(z.looseObject({ name: z.string() })).optional(),
    schedulingGates: z.array(z.object({ name: z.string() })).optional(),
  }),
});
export type PodInput = z.infer<typeof podSchema>;
type ContainerInput = z.infer<typeof containerSchema>;

export interface InjectConfig {
  shimImage: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Random suffix for claims named after a generateName pod (injectable for tests). */
  randomSuffix: () => string;
}

export type AdmissionDecision =
  | { allowed: true; patch: JsonPatch; claim?: string; inline?: boolean; warnings: string[] }
  | { allowed: false; message: string };

const deny = (message: string): AdmissionDecision => ({ allowed: false, message });

export function inlineClaimName(meta: { name?: string; generateName?: string }, suffix: string): string {
  const base = meta.name ? `${meta.name}-gpu` : `${meta.generateName ?? 'pod-'}gpu-${suffix}`;
  return base.slice(0, MAX_CLAIM_NAME).replace(/[-.]+$/, '');
}

export function initContainerFor(cfg: InjectConfig): Record<string, unknown> {
  const preload = SHIM_LIBS.map((l) => `${SHIM_DIR}/${l}`).join(' ');
  return {
    name: INIT_CONTAINER,
    image: cfg.shimImage,
    ...(cfg.imagePullPolicy ? { imagePullPolicy: cfg.imagePullPolicy } : {}),
    command: [
      '/bin/sh',
      '-c',
      `cp ${SHIM_LIBS.map((l) => `/opt/avec/lib/${l}`).join(' ')} /avec/ && printf '%s\\n' ${preload} > /avec/ld.so.preload`,
    ],
    volumeMounts: [{ name: SHIM_VOLUME, mountPath: '/avec' }],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
    // Passes the "restricted" Pod Security Standard; the emptyDir is writable by any user.
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

const MOUNTS = [
  { name: SHIM_VOLUME, mountPath: SHIM_DIR, readOnly: true },
  { name: SHIM_VOLUME, mountPath: PRELOAD_FILE, subPath: 'ld.so.preload', readOnly: true },
  { name: CLAIM_VOLUME, mountPath: CLAIM_DIR, readOnly: true },
];

/** Patch ops that make one container load the shim. */
function containerOps(c: ContainerInput, base: string, warnings: string[]): JsonPatch | string {
  const ops: JsonPatch = [];
  const taken = new Set((c.volumeMounts ?? []).map((m) => m.mountPath));
  for (const m of MOUNTS) {
    if (taken.has(m.mountPath)) return `container ${c.name} already mounts ${m.mountPath}, which avec needs`;
  }
  if (c.volumeMounts === undefined) ops.push({ op: 'add', path: `${base}/volumeMounts`, value: MOUNTS });
  else for (const m of MOUNTS) ops.push({ op: 'add', path: `${base}/volumeMounts/-`, value: m });
  const preload = SHIM_LIBS.map((l) => `${SHIM_DIR}/${l}`).join(':');
  const idx = (c.env ?? []).findIndex((e) => e.name === 'LD_PRELOAD');
  if (idx < 0) {
    const v = { name: 'LD_PRELOAD', value: preload };
    ops.push(c.env === undefined ? { op: 'add', path: `${base}/env`, value: [v] } : { op: 'add', path: `${base}/env/-`, value: v });
  } else {
    const e = c.env![idx];
    if (e.valueFrom !== undefined) {
      warnings.push(`container ${c.name} sets LD_PRELOAD from a reference; the shim is loaded through ${PRELOAD_FILE} only`);
    } else {
      const value = e.value ? `${preload}:${e.value}` : preload;
      ops.push({ op: 'add', path: `${base}/env/${idx}/value`, value });
    }
  }
  return ops;
}

/**
 * Decide the mutation of a pod being created in `namespace`. Pods without avec annotations, and
 * pods already mutated, are allowed unchanged.
 */
export function mutatePod(raw: unknown, namespace: string, cfg: InjectConfig): AdmissionDecision {
  const parsed = podSchema.safeParse(raw);
  if (!parsed.success) return deny(`avec: the pod could not be read: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const pod = parsed.data;
  const ann = pod.metadata.annotations ?? {};
  if (ann[ANN_INJECTED] !== undefined) return { allowed: true, patch: [], warnings: [] };
  const req = parsePodAnnotations(ann);
  if (!req.ok) return deny(`avec: ${req.message}`);
  if (req.request.kind === 'none') return { allowed: true, patch: [], warnings: [] };
  if (req.request.kind === 'inline' && req.request.inline.maxLatencyMs !== undefined && podSite(pod.spec as PodPlacementView) === undefined) {
    return deny(`avec: annotation ${ANN_GPU_MAX_LATENCY} needs the pod's site, the place latency is measured from: pin the pod with nodeSelector ${SITE_LABEL} (or ${ZONE_LABEL}), or drop the annotation`);
  }
  if (pod.spec.nodeName) {
    return deny(`avec: the pod sets spec.nodeName (${pod.spec.nodeName}); a pod that bypasses the scheduler cannot wait for its GPU claim`);
  }
  const volNames = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  for (const v of [SHIM_VOLUME, CLAIM_VOLUME]) if (volNames.has(v)) return deny(`avec: the pod already has a volume named ${v}, which avec reserves`);
  const allInit = pod.spec.initContainers ?? [];
  if (allInit.some((c) => c.name === INIT_CONTAINER)) return deny(`avec: the init container name ${INIT_CONTAINER} is reserved`);

  const inline = req.request.kind === 'inline';
  const claim = req.request.kind === 'claim' ? req.request.claim : inlineClaimName(pod.metadata, cfg.randomSuffix());
  const warnings: string[] = [];
  const patch: JsonPatch = [];

  // Annotations first: mark as injected (idempotent re-invocation) and record the claim name.
  const newAnn: Record<string, string> = { [ANN_INJECTED]: 'true' };
  if (inline) Object.assign(newAnn, { [ANN_CLAIM]: claim, [ANN_INLINE]: 'true' });
  if (pod.metadata.annotations === undefined) patch.push({ op: 'add', path: '/metadata/annotations', value: newAnn });
  else for (const [k, v] of Object.entries(newAnn)) patch.push({ op: 'add', path: `/metadata/annotations/${ptr(k)}`, value: v });

  // A label, so the operator can watch only avec pods (label selector avec.dev/managed=true).
  if (pod.metadata.labels === undefined) patch.push({ op: 'add', path: '/metadata/labels', value: { [LABEL_MANAGED]: 'true' } });
  else patch.push({ op: 'add', path: `/metadata/labels/${ptr(LABEL_MANAGED)}`, value: 'true' });

  const volumes = [
    { name: SHIM_VOLUME, emptyDir: { sizeLimit: '256Mi' } },
    { name: CLAIM_VOLUME, secret: { secretName: secretNameFor(claim), defaultMode: 0o444 } },
  ];
  if (pod.spec.volumes === undefined) patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  else for (const v of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });

  for (const [kind, list] of [['containers', pod.spec.containers], ['initContainers', allInit]] as const) {
    for (let i = 0; i < list.length; i++) {
      const ops = containerOps(list[i], `/spec/${kind}/${i}`, warnings);
      if (typeof ops === 'string') return deny(`avec: ${ops}`);
      patch.push(...ops);
    }
  }
  // The installer runs before every other init container (which may use the GPU too).
  if (pod.spec.initContainers === undefined) patch.push({ op: 'add', path: '/spec/initContainers', value: [initContainerFor(cfg)] });
  else patch.push({ op: 'add', path: '/spec/initContainers/0', value: initContainerFor(cfg) });

  const gates = pod.spec.schedulingGates;
  if (gates === undefined) patch.push({ op: 'add', path: '/spec/schedulingGates', value: [{ name: SCHEDULING_GATE }] });
  else if (!gates.some((g) => g.name === SCHEDULING_GATE)) patch.push({ op: 'add', path: '/spec/schedulingGates/-', value: { name: SCHEDULING_GATE } });

  return { allowed: true, patch, claim, ...(inline ? { inline } : {}), warnings };
}
