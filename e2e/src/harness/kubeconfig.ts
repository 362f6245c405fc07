// Kubeconfig files for the harness: admin (client cert) and token-based identities.
import { readFileSync, writeFileSync } from 'node:fs';

const b64 = (path: string): string => readFileSync(path).toString('base64');

export interface KubeconfigSpec {
  server: string;
  caFile: string;
  user: { certFile: string; keyFile: string } | { token: string };
  namespace?: string;
}

/** Writes a single-context kubeconfig (credentials inlined, so the file stands alone). */
export function writeKubeconfig(path: string, spec: KubeconfigSpec): string {
  const user = 'token' in spec.user
    ? `    token: ${spec.user.token}\n`
    : `    client-certificate-data: ${b64(spec.user.certFile)}\n    client-key-data: ${b64(spec.user.keyFile)}\n`;
  const text = `apiVersion: v1
kind: Config
clusters:
- name: avec-e2e
  cluster:
    server: ${spec.server}
    certificate-authority-data: ${b64(spec.caFile)}
users:
- name: avec-e2e-user
  user:
${user}contexts:
- name: avec-e2e
  context:
    cluster: avec-e2e
    user: avec-e2e-user
${spec.namespace ? `    namespace: ${spec.namespace}\n` : ''}current-context: avec-e2e
`;
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}
