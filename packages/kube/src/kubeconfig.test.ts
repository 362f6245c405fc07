import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findConnection, inClusterConnection, loadConnection, parseKubeconfig } from './kubeconfig.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const twoUsers = `
apiVersion: v1
kind: Config
current-context: b
clusters:
- name: c1
  cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: "${b64('CA')}" }
contexts:
- name: a
  context: { cluster: c1, user: u1 }
- name: b
  context: { cluster: c1, user: u2 }
users:
- name: u1
  user: { client-certificate-data: "${b64('CERT')}", client-key-data: "${b64('KEY')}" }
- name: u2
  user: { tokenFile: tok }
`;

const twoClusters = (user: string): string => `apiVersion: v1
kind: Config
current-context: c2
clusters:
  - name: one
    cluster: { server: "https://one.example:6443" }
  - name: two
    cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: ${b64('CA')} }
contexts:
  - name: c1
    context: { cluster: one, user: u }
  - name: c2
    context: { cluster: two, user: u }
users:
  - name: u
    user: ${user}
`;

const tempDir = (prefix: string): Promise<string> => mkdtemp(join(tmpdir(), prefix));
const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

test('kubeconfig: current context, inline cert data, relative token file, unknown context', async () => {
  const dir = await tempDir('avec-kc-');
  try {
    await writeFile(join(dir, 'tok'), 'secret-token\n');
    const c = parseKubeconfig(twoUsers, dir);
    assert.equal(c.server.href, 'https://127.0.0.1:6443/');
    assert.equal(c.ca?.toString(), 'CA');
    assert.equal(c.cert, undefined);
    assert.equal(c.token?.(), 'secret-token');
    const a = parseKubeconfig(twoUsers.replace('current-context: b', 'current-context: a'), dir);
    assert.equal(a.cert?.toString(), 'CERT');
    assert.equal(a.key?.toString(), 'KEY');
    assert.equal(a.token, undefined);
    assert.throws(() => parseKubeconfig(twoUsers.replace('current-context: b', 'current-context: zz'), dir), { code: 'KubeconfigNoContext' });
    await writeFile(join(dir, 'config'), twoUsers);
    assert.equal(loadConnection(undefined, { KUBECONFIG: join(dir, 'config') }).token?.(), 'secret-token');
    assert.equal(loadConnection(undefined, { KUBECONFIG: `${join(dir, 'config')}:/nonexistent` }).token?.(), 'secret-token', 'the first $KUBECONFIG file');
  } finally {
    await removeDir(dir);
  }
});

test('kubeconfig: follows current-context across clusters; inline token, file credentials; validation', async () => {
  const dir = await tempDir('avec-kc-');
  try {
    const inline = parseKubeconfig(twoClusters(`{ client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')} }`), dir);
    assert.equal(inline.server.href, 'https://127.0.0.1:6443/');
    assert.equal(inline.ca?.toString(), 'CA');
    assert.equal(inline.cert?.toString(), 'CERT');
    assert.equal(inline.key?.toString(), 'KEY');
    assert.equal(inline.token, undefined);

    await writeFile(join(dir, 'tok'), 'secret-token\n');
    await writeFile(join(dir, 'client.crt'), 'CERTFILE');
    await writeFile(join(dir, 'client.key'), 'KEYFILE');
    const fromFile = parseKubeconfig(twoClusters('{ tokenFile: tok, client-certificate: client.crt, client-key: client.key }'), dir);
    assert.equal(fromFile.token?.(), 'secret-token', 'relative paths resolve against the kubeconfig dir');
    assert.equal(fromFile.cert?.toString(), 'CERTFILE');
    assert.equal(fromFile.key?.toString(), 'KEYFILE');
    assert.equal(parseKubeconfig(twoClusters('{ token: abc }'), dir).token?.(), 'abc');
    assert.equal(parseKubeconfig(twoClusters('null'), dir).token, undefined, 'a user with no fields is anonymous');

    const noContexts = parseKubeconfig(`clusters:\n- name: x\n  cluster: { server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true }\n`, dir);
    assert.equal(noContexts.server.href, 'http://127.0.0.1:8080/', 'no contexts: the first cluster');
    assert.equal(noContexts.insecureSkipTLSVerify, true);

    assert.throws(() => parseKubeconfig('clusters: []', dir), (e: unknown) => (e as { code?: string }).code === 'KubeconfigInvalid' && /clusters/.test(String(e)));
    assert.throws(() => parseKubeconfig('clusters:\n- name: x\n  cluster: { server: "not a url" }\n', dir), /server/);
    assert.throws(() => parseKubeconfig(twoClusters('{}').replace('cluster: two,', 'cluster: three,'), dir), { code: 'KubeconfigNoCluster' });
  } finally {
    await removeDir(dir);
  }
});

test('findConnection: kubeconfig, else in-cluster service account, else standalone; loadConnection adds ~/.kube/config', async () => {
  const sa = await tempDir('avec-sa-');
  const home = await tempDir('avec-home-');
  try {
    assert.equal(findConnection(undefined, {}, sa), undefined, 'no config: standalone');
    assert.equal(findConnection(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, sa), undefined, 'no token: standalone');
    assert.throws(() => loadConnection(undefined, {}, sa, home), { code: 'KubeconfigMissing' });

    await mkdir(join(home, '.kube'));
    await writeFile(join(home, '.kube', 'config'), twoClusters('{ token: from-home }'));
    assert.equal(loadConnection(undefined, {}, sa, home).token?.(), 'from-home');

    await writeFile(join(sa, 'token'), 't1');
    await writeFile(join(sa, 'ca.crt'), 'CA');
    const t = findConnection(undefined, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa)!;
    assert.equal(t.server.host, '[fd00::1]');
    assert.equal(t.ca?.toString(), 'CA');
    assert.equal(t.token?.(), 't1');
    await writeFile(join(sa, 'token'), 't2');
    assert.equal(t.token?.(), 't2', 'rotated tokens are re-read');
    assert.equal(inClusterConnection({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, sa)?.server.href, 'https://10.0.0.1/', 'port 443 by default');
    assert.equal(loadConnection(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '6443' }, sa, home).server.port, '6443', 'in-cluster before ~/.kube/config');

    await writeFile(join(home, 'explicit'), twoClusters('{ token: explicit }'));
    assert.equal(findConnection(join(home, 'explicit'), { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, sa)?.token?.(), 'explicit', 'an explicit path wins');
  } finally {
    await removeDir(sa);
    await removeDir(home);
  }
});
