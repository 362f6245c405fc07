// Remoting-server configuration: defaults < JSON config file (--config) < environment (AVEC_*) < flags.
// Validated once here with zod; everything inside trusts the resulting `Config`.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { AvecError, LOG_ENV, LOG_LEVELS } from '@avec/common';
import { parseHostPort, type HostPort } from './host-port.js';

const hostPort = z.string().transform((s, ctx): HostPort => {
  try {
    return parseHostPort(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});
const positiveInt = z.coerce.number().int().positive();

export const linkTargetSchema = z.object({
  site: z.string().min(1).max(63),
  /** host:port of something that accepts TCP connections at that site (e.g. its remoting server). */
  probe: z.string().optional(),
  /** Declared values, used when no probe is given or the probe fails. */
  rttMs: z.number().nonnegative().optional(),
  bandwidthMbps: z.number().nonnegative().optional(),
});
export type LinkTarget = z.infer<typeof linkTargetSchema>;

export const configSchema = z
  .object({
    nodeName: z.string().min(1).max(253),
    kubeconfig: z.string().optional(),
    /** auto: use a kubeconfig or in-cluster config when there is one; off: standalone (data plane only). */
    kube: z.enum(['auto', 'off']).default('auto'),
    dataListen: hostPort.default(parseHostPort('0.0.0.0:7070')),
    /** Endpoint published in GPUNode.spec.endpoint (what shims connect to). Default: pod IP / hostname + data port. */
    advertise: hostPort.optional(),
    grpcListen: hostPort.default(parseHostPort('0.0.0.0:7071')),
    metricsPort: z.coerce.number().int().min(0).max(65535).default(9471),
    executor: z.string().min(1),
    /**
     * Unset (the default): detect at start-up (`--describe --backend auto`) and pin every executor to the
     * backend found, so a GPU whose driver later fails makes sessions fail instead of quietly emulating.
     * Set (flag, env or file, `auto` included): passed to every executor as it is.
     */
    backend: z.enum(['cuda', 'emulated', 'auto']).optional(),
    moduleCacheDir: z.string().optional(),
    ticketKeyDir: z.string().default('/var/run/avec/ticket-keys'),
    site: z.string().max(63).optional(),
    /** Used when the Node has neither an avec.dev/site nor a topology.kubernetes.io/zone label. */
    defaultSite: z.string().max(63).optional(),
    heartbeatSeconds: positiveInt.default(10),
    linkProbeSeconds: positiveInt.default(60),
    links: z.array(linkTargetSchema).default([]),
    maxSessions: positiveInt.default(64),
    maxSessionsPerClaim: positiveInt.default(8),
    helloTimeoutMs: positiveInt.default(5000),
    /** A session opened with the gRPC OpenSession waits this long for its data connection. */
    pendingSessionSeconds: positiveInt.default(30),
    /** SIGTERM -> SIGKILL grace for an executor being closed. */
    closeGraceSeconds: positiveInt.default(5),
    /** On SIGTERM: stop admitting, wait this long for sessions to end, then kill them. */
    drainSeconds: z.coerce.number().int().min(0).default(30),
    /** gRPC admin methods (CloseSession, Drain) require `authorization: Bearer <token>` when set. */
    adminTokenFile: z.string().optional(),
    addon: z.string().optional(),
    logLevel: z.enum(LOG_LEVELS).default('info'),
  })
  .strict();
export type Config = z.infer<typeof configSchema>;

/** Flag name -> config key. Every flag takes a value except the booleans listed in BOOLEAN_FLAGS. */
const FLAGS = {
  config: 'config',
  'node-name': 'nodeName',
  kubeconfig: 'kubeconfig',
  kube: 'kube',
  'data-listen': 'dataListen',
  advertise: 'advertise',
  'grpc-listen': 'grpcListen',
  'metrics-port': 'metricsPort',
  executor: 'executor',
  backend: 'backend',
  'module-cache': 'moduleCacheDir',
  'ticket-key-dir': 'ticketKeyDir',
  site: 'site',
  'default-site': 'defaultSite',
  'heartbeat-seconds': 'heartbeatSeconds',
  'link-probe-seconds': 'linkProbeSeconds',
  'max-sessions': 'maxSessions',
  'max-sessions-per-claim': 'maxSessionsPerClaim',
  'hello-timeout-ms': 'helloTimeoutMs',
  'pending-session-seconds': 'pendingSessionSeconds',
  'close-grace-seconds': 'closeGraceSeconds',
  'drain-seconds': 'drainSeconds',
  'admin-token-file': 'adminTokenFile',
  addon: 'addon',
  'log-level': 'logLevel',
} as const;

export const HELP = `avec remoting server: serves GPU sessions to avec shims on this GPU node.

Usage: node remoting-server/dist/main.js [flags]

Flags (each also settable by the environment variable in brackets, or a key of the --config JSON file):
  --config FILE                JSON file with any of the settings below (keys in camelCase)
  --node-name NAME             this node's name, checked against tickets [AVEC_NODE_NAME, NODE_NAME; default: hostname]
  --kubeconfig FILE            kubeconfig for publishing the GPUNode [AVEC_KUBECONFIG, KUBECONFIG; default: in-cluster if available]
  --kube auto|off              off: standalone, data plane only, no API server [AVEC_KUBE; default auto]
  --data-listen HOST:PORT      data-plane listener for shims [AVEC_DATA_LISTEN; default 0.0.0.0:7070]
  --advertise HOST:PORT        data endpoint published in GPUNode.spec.endpoint [AVEC_ADVERTISE; default POD_IP or hostname + data port]
  --grpc-listen HOST:PORT      gRPC control API (avec.v1.Control + grpc.health.v1) [AVEC_GRPC_LISTEN; default 0.0.0.0:7071]
  --metrics-port PORT          /metrics, /healthz, /readyz over HTTP; 0 disables [AVEC_METRICS_PORT; default 9471]
  --executor PATH              avec-executor binary [AVEC_EXECUTOR; default build/native/avec-executor of this checkout]
  --backend cuda|emulated|auto executor backend [AVEC_BACKEND; default: detected at start-up, then pinned]
  --module-cache DIR           executor module cache directory [AVEC_MODULE_CACHE]
  --ticket-key-dir DIR         ticket keyring directory, one file per key id [AVEC_TICKET_KEY_DIR; default /var/run/avec/ticket-keys]
  --site SITE                  site override (else the Node's avec.dev/site, then topology.kubernetes.io/zone label) [AVEC_SITE]
  --default-site SITE          site when the Node has neither label [AVEC_DEFAULT_SITE]
  --heartbeat-seconds N        GPUNode heartbeat period [AVEC_HEARTBEAT_SECONDS; default 10]
  --link SITE=HOST:PORT[,RTT_MS[,MBPS]]  probe target per site, repeatable; RTT/bandwidth are declared fallbacks
  --link-probe-seconds N       link measurement period [AVEC_LINK_PROBE_SECONDS; default 60]
  --max-sessions N             sessions on this node [AVEC_MAX_SESSIONS; default 64]
  --max-sessions-per-claim N   sessions per claim [AVEC_MAX_SESSIONS_PER_CLAIM; default 8]
  --hello-timeout-ms N         a connection must send its HELLO within this time [AVEC_HELLO_TIMEOUT_MS; default 5000]
  --pending-session-seconds N  OpenSession reservation lifetime [AVEC_PENDING_SESSION_SECONDS; default 30]
  --close-grace-seconds N      SIGTERM->SIGKILL grace for executors [AVEC_CLOSE_GRACE_SECONDS; default 5]
  --drain-seconds N            on SIGTERM, wait this long for sessions before killing them [AVEC_DRAIN_SECONDS; default 30]
  --admin-token-file FILE      require this bearer token for CloseSession/Drain [AVEC_ADMIN_TOKEN_FILE]
  --addon PATH                 avec_addon.node [AVEC_ADDON; default build/addon/avec_addon.node of this checkout]
  --log-level error|warn|info|debug  [AVEC_LOG; default info]
  --version                    print the version
  --help                       print this text
`;

/** Parses "site=host:port[,rttMs[,mbps]]" or "site=,rttMs[,mbps]" (declared only). */
export function parseLinkFlag(text: string): LinkTarget {
  const m = /^([^=]+)=([^,]*)(?:,([0-9.]+))?(?:,([0-9.]+))?$/.exec(text);
  if (!m) throw new AvecError('BadFlag', `--link ${text}: expected SITE=HOST:PORT[,RTT_MS[,MBPS]]`);
  const out: LinkTarget = { site: m[1]! };
  if (m[2]) {
    parseHostPort(m[2]);
    out.probe = m[2];
  }
  if (m[3] !== undefined) out.rttMs = Number(m[3]);
  if (m[4] !== undefined) out.bandwidthMbps = Number(m[4]);
  if (!out.probe && out.rttMs === undefined) throw new AvecError('BadFlag', `--link ${text}: needs a probe endpoint or a declared RTT`);
  return out;
}

export interface ConfigSources {
  argv: string[];
  env: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
  /** Where this module runs from, for the checkout-relative defaults of --executor and --addon. */
  repoRoot?: string;
}

export type ConfigResult = { help: true; version?: false } | { help: false; version: true } | { help: false; version?: false; config: Config };

export function loadConfig(src: ConfigSources): ConfigResult {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' }, version: { type: 'boolean' }, link: { type: 'string', multiple: true } };
  for (const f of Object.keys(FLAGS)) options[f] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: src.argv, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new AvecError('BadFlag', (e as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v.help) return { help: true };
  if (v.version) return { help: false, version: true };

  const raw: Record<string, unknown> = {};
  const env = src.env;
  raw.nodeName = env.NODE_NAME || hostname();
  if (src.repoRoot) {
    raw.executor = `${src.repoRoot}/build/native/avec-executor`;
  }
  if (env.KUBECONFIG) raw.kubeconfig = env.KUBECONFIG;

  const configFile = (v.config as string | undefined) ?? env.AVEC_CONFIG;
  if (configFile) {
    let text: string;
    try {
      text = (src.readFile ?? ((p) => readFileSync(p, 'utf8')))(configFile);
    } catch (e) {
      throw new AvecError('BadConfig', `cannot read --config ${configFile}: ${(e as Error).message}`);
    }
    let fileValues: unknown;
    try {
      fileValues = JSON.parse(text);
    } catch (e) {
      throw new AvecError('BadConfig', `--config ${configFile} is not JSON: ${(e as Error).message}`);
    }
    if (typeof fileValues !== 'object' || fileValues === null || Array.isArray(fileValues)) {
      throw new AvecError('BadConfig', `--config ${configFile} must hold a JSON object`);
    }
    Object.assign(raw, fileValues);
  }
  for (const [flag, key] of Object.entries(FLAGS)) {
    if (key === 'config') continue;
    // The log level uses the one variable every avec process reads (AVEC_LOG), not AVEC_LOG_LEVEL.
    const envName = flag === 'log-level' ? LOG_ENV : 'AVEC_' + flag.toUpperCase().replace(/-/g, '_');
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
  }
  for (const [flag, key] of Object.entries(FLAGS)) {
    if (key === 'config') continue;
    if (v[flag] !== undefined) raw[key] = v[flag];
  }
  if (Array.isArray(v.link) && v.link.length > 0) raw.links = v.link.map(parseLinkFlag);

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new AvecError('BadConfig', `invalid configuration:\n${lines.join('\n')}`);
  }
  return { help: false, config: result.data };
}
