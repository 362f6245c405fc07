// Where the control-plane binaries built by hack/kube-toolchain.sh live.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type KubeBinary = 'etcd' | 'kube-apiserver' | 'kubectl' | 'helm';

export function kubeBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AVEC_KUBE_BIN) return env.AVEC_KUBE_BIN;
  const cache = env.AVEC_CACHE ?? join(homedir(), '.cache', 'avec');
  return join(cache, 'kube', 'bin');
}

/** Absolute path of a toolchain binary; throws with the command that builds it when missing. */
export function kubeBinary(name: KubeBinary, env: NodeJS.ProcessEnv = process.env): string {
  const path = join(kubeBinDir(env), name);
  if (!existsSync(path)) {
    throw new Error(`${name} not found at ${path}: run \`make deps-kube\` (hack/kube-toolchain.sh) first`);
  }
  return path;
}
