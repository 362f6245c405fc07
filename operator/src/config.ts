// Operator configuration: command-line flags (--name=value or --name value), each also settable
// by the environment as AVEC_OPERATOR_<NAME> (upper case, "-" -> "_"); flags win. zod-validated.
import { hostname } from 'node:os';
import { z } from 'zod';
import { AvecError } from '@avec/common';

const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1')]);
const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().positive();

export const FLAGS = {
  kubeconfig: { schema: z.string().optional(), help: 'kubeconfig file (default: $KUBECONFIG, in-cluster service account, ~/.kube/config)' },
  namespace: { schema: z.string().min(1).default(process.env.POD_NAMESPACE ?? 'avec-system'), help: "the operator's namespace: leader Lease, self-managed webhook Secret (default $POD_NAMESPACE or avec-system)" },
  identity: { schema: z.string().min(1).default(`${hostname()}-${process.pid}`), help: 'this replica\'s name in the leader Lease (default <hostname>-<pid>)' },
  'leader-elect': { schema: bool.default(true), help: 'run controllers only while holding the Lease (15 s lease, 10 s renew deadline, 2 s retry); false = always run them' },
  'lease-name': { schema: z.string().default('avec-operator'), help: 'name of the coordination.k8s.io Lease' },
  'webhook-port': { schema: port.default(9443), help: 'HTTPS port of the mutating webhook; 0 disables the webhook' },
  'webhook-host': { schema: z.string().default('0.0.0.0'), help: 'address the webhook listens on' },
  'webhook-path': { schema: z.string().startsWith('/').default('/mutate-pods'), help: 'HTTP path of the admission endpoint' },
  'webhook-cert-mode': { schema: z.enum(['dir', 'self-managed']).default('dir'), help: 'dir: read tls.crt/tls.key from --webhook-cert-dir (chart-generated or cert-manager), reloaded on change; self-managed: generate a CA + serving certificate, keep them in the Secret --webhook-cert-secret, rotate before expiry, patch caBundle of --webhook-config-name' },
  'webhook-cert-dir': { schema: z.string().optional(), help: 'directory with tls.crt and tls.key (mode dir)' },
  'webhook-service': { schema: z.string().default('avec-operator'), help: 'Service name in the serving certificate SANs (mode self-managed)' },
  'webhook-cert-secret': { schema: z.string().default('avec-webhook-cert'), help: 'Secret holding the self-managed CA and serving certificate' },
  'webhook-config-name': { schema: z.string().default(''), help: 'MutatingWebhookConfiguration whose caBundle the operator patches (mode self-managed; empty = do not patch)' },
  'health-port': { schema: port.default(8081), help: 'HTTP port for /healthz and /readyz' },
  'metrics-port': { schema: port.default(8080), help: 'HTTP port for /metrics (Prometheus)' },
  'ticket-key-dir': { schema: z.string().min(1), help: 'ticket keyring directory (one file per key id, raw bytes; `current` names the signing kid; see docs/tickets.md) — required' },
  'ticket-ttl-seconds': { schema: positive.default(86400), help: 'lifetime of issued tickets; re-signed when a third is left' },
  'heartbeat-timeout-seconds': { schema: positive.default(30), help: 'a GPUNode whose status.heartbeatTime is older is NotReady; its claims become Lost and are placed again' },
  'shim-image': { schema: z.string().min(1).default('avec/shim:0.1.0'), help: 'image of the init container that copies the shim (/opt/avec/lib/*.so.1, needs /bin/sh and cp)' },
  'shim-pull-policy': { schema: z.enum(['Always', 'IfNotPresent', 'Never']).optional(), help: 'imagePullPolicy of the shim init container' },
  workers: { schema: positive.default(32), help: 'concurrent claim reconciles (binds in flight: two API writes each)' },
  'resync-seconds': { schema: positive.default(300), help: 'period at which every claim and GPU node is reconciled again' },
  'lost-claims-first': { schema: bool.default(true), help: 'claims that lost their GPU in a node failure (phase Lost) are placed before claims that never had one; a newcomer that would take their capacity waits with reason CapacityHeldForLostClaims' },
  'max-sessions-per-claim': { schema: z.coerce.number().int().min(1).max(1000).default(8), help: "concurrent sessions a claim may hold on its node, signed into its tickets as maxs, for claims without spec.maxSessions (the remoting server's own cap still applies; the lower one wins)" },
  'node-summary-interval-seconds': { schema: positive.default(10), help: "least time between two writes of a GPUNode's allocation summary (status.allocations, shown by kubectl get gpunodes); placement reads the claims, never the summary" },
  'retry-unplaced-seconds': { schema: positive.default(30), help: 'retry period of claims that fit nowhere (capacity changes also retrigger them)' },
  help: { schema: bool.default(false), help: 'print this help' },
  version: { schema: bool.default(false), help: 'print the version' },
} as const;

type Flags = typeof FLAGS;
export type OperatorConfig = { [K in keyof Flags as K extends string ? CamelCase<K> : never]: z.output<Flags[K]['schema']> };
type CamelCase<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const envName = (s: string): string => `AVEC_OPERATOR_${s.toUpperCase().replace(/-/g, '_')}`;

export function helpText(): string {
  const lines = ['Usage: node operator/dist/main.js [flags]', '       node operator/dist/main.js release-claims --help   (make claims deletable once the operator is gone)', '', 'avec operator: places VirtualGPUClaims on GPU nodes, serves the pod mutating webhook.', '', 'Flags (each also settable as AVEC_OPERATOR_<FLAG>; log level: AVEC_LOG = debug|info|warn|error):'];
  for (const [name, f] of Object.entries(FLAGS)) {
    const d = (f.schema as z.ZodType).safeParse(undefined);
    const def = d.success && d.data !== undefined && !f.help.includes('(default') ? ` [default: ${String(d.data)}]` : '';
    lines.push(`  --${name.padEnd(28)} ${f.help}${def}`);
  }
  return lines.join('\n');
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(FLAGS)) {
    const v = env[envName(name)];
    if (v !== undefined) raw[name] = v;
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h') {
      raw.help = true;
      continue;
    }
    if (a === '--version') {
      raw.version = true;
      continue;
    }
    if (!a.startsWith('--')) throw new AvecError('BadFlag', `unexpected argument "${a}" (see --help)`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (!(name in FLAGS)) throw new AvecError('BadFlag', `unknown flag --${name} (see --help)`);
    if (eq >= 0) raw[name] = a.slice(eq + 1);
    else if (name === 'help' || name === 'leader-elect' || name === 'lost-claims-first') raw[name] = argv[i + 1] === 'true' || argv[i + 1] === 'false' ? argv[++i] : 'true';
    else if (i + 1 < argv.length) raw[name] = argv[++i];
    else throw new AvecError('BadFlag', `flag --${name} needs a value`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(FLAGS)) {
    if (raw.help === true || raw.help === 'true' || raw.version === true) {
      if (name !== 'ticket-key-dir') out[camel(name)] = (f.schema as z.ZodType).safeParse(raw[name]).data;
      continue;
    }
    const r = (f.schema as z.ZodType).safeParse(raw[name]);
    if (!r.success) throw new AvecError('BadFlag', `--${name}${raw[name] === undefined ? ' is required' : `=${String(raw[name])}: ${r.error.issues[0]?.message}`} (see --help)`);
    out[camel(name)] = r.data;
  }
  if (raw.help === true || raw.help === 'true') out.help = true;
  if (raw.version === true) out.version = true;
  const cfg = out as OperatorConfig;
  if (!cfg.help && !cfg.version && cfg.webhookPort !== 0 && cfg.webhookCertMode === 'dir' && !cfg.webhookCertDir) {
    throw new AvecError('BadFlag', '--webhook-cert-dir is required with --webhook-cert-mode=dir (or --webhook-port=0 to disable the webhook)');
  }
  return cfg;
}
