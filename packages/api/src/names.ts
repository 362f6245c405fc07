// The names operator, remoting server, webhook and tests must agree on: the CRD group/version and
// kinds, labels, annotations, the finalizer, and the per-claim Secret. Changing one here changes it
// for every part at once.

export const GROUP = 'avec.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CLAIM_KIND = 'VirtualGPUClaim';
export const CLAIM_PLURAL = 'virtualgpuclaims';
export const GPUNODE_KIND = 'GPUNode';
export const GPUNODE_PLURAL = 'gpunodes';

// Labels
/** Overrides a Node's / GPUNode's site (else topology.kubernetes.io/zone). */
export const SITE_LABEL = 'avec.dev/site';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Set by a remoting server that is draining: no new placements on its GPUNode. */
export const DRAINING_LABEL = 'avec.dev/draining';
/** Set by the webhook on mutated pods (the operator watches only these). */
export const LABEL_MANAGED = 'avec.dev/managed';
/** On claims the operator created for a pod's inline request. */
export const LABEL_INLINE = 'avec.dev/inline';

// Pod annotations
export const ANN_CLAIM = 'avec.dev/claim';
export const ANN_GPU_MEMORY = 'avec.dev/gpu-memory';
export const ANN_GPU_COMPUTE = 'avec.dev/gpu-compute-percent';
export const ANN_GPU_MAX_LATENCY = 'avec.dev/gpu-max-latency-ms';
export const ANN_GPU_POLICY = 'avec.dev/gpu-policy';
/** Set by the webhook on mutated pods. */
export const ANN_INJECTED = 'avec.dev/injected';
/** Set by the webhook when it named a claim for an inline request; the operator creates it, pod-owned. */
export const ANN_INLINE = 'avec.dev/inline-claim';
/** The scheduling gate the webhook adds and the operator lifts once the claim is Bound. */
export const SCHEDULING_GATE = 'avec.dev/claim-bound';

// Claims
/** Holds a claim until its GPU allocation is released. */
export const FINALIZER = 'avec.dev/release-allocation';
/** The operator's in-flight reservation of a device for a claim (JSON). */
export const RESERVATION_ANNOTATION = 'avec.dev/reservation';

// The per-claim Secret (endpoint + ticket), mounted into the claim's pods.
export const CLAIM_SECRET_PREFIX = 'avec-claim-';
export const CLAIM_SECRET_TYPE = 'avec.dev/claim';
export const secretNameFor = (claim: string): string => `${CLAIM_SECRET_PREFIX}${claim}`;
/** The claim Secret's name must stay a valid 253-character object name. */
export const MAX_CLAIM_NAME = 253 - CLAIM_SECRET_PREFIX.length;
