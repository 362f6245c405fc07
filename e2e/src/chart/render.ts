// Renders charts/avec with the project's helm binary (no cluster needed) into objects.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { runCli, type CliResult } from '../harness/cli.js';
import { REPO_ROOT } from '../harness/repo-root.js';
import { kubeBinary } from '../harness/toolchain.js';

export const CHART_DIR = join(REPO_ROOT, 'charts', 'avec');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

const helmHome = mkdtempSync(join(tmpdir(), 'avec-helm-'));
const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: join(helmHome, 'cache'),
  HELM_CONFIG_HOME: join(helmHome, 'config'),
  HELM_DATA_HOME: join(helmHome, 'data'),
};

export function helm(args: string[], check = true): Promise<CliResult> {
  return runCli(kubeBinary('helm'), args, { cwd: REPO_ROOT, env: helmEnv, check });
}

/** `helm template` with --set pairs; returns the rendered objects (CRDs included). */
export async function renderChart(set: Record<string, string> = {}, namespace = 'avec-system', apiVersions: string[] = []): Promise<K8sObject[]> {
  const { stdout } = await helm(['template', 'avec', CHART_DIR, '--namespace', namespace, '--include-crds',
    ...apiVersions.flatMap((v) => ['--api-versions', v]),
    ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`])]);
  return (loadAll(stdout) as (K8sObject | null)[]).filter((o): o is K8sObject => o !== null);
}

export function find(objs: K8sObject[], kind: string, nameSuffix = ''): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name.endsWith(nameSuffix));
  if (!o) throw new Error(`no ${kind} *${nameSuffix} in: ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}
