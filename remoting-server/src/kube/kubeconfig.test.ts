import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findKubeTarget, parseKubeconfig } from './kubeconfig.js';

const yaml = (user: string) => `apiVersion: v1
kind: Config
current-context: c2
clusters:
  - name: one
    cluster: { server: "https://one.example:6443" }
  - name: two
    cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: ${Buffer.from('CA').toString('base64')} }
contexts:
  - name: c1
    context: { cluster: one, user: u }
  - name: c2
    context: { cluster: two, user: u }
users:
  - name: u
    user: ${user}
`;

test('parseKubeconfig follows current-context and reads inline and file credentials', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'avec-kc-'));
  try {
    const inline = parseKubeconfig(yaml(`{ client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')} }`), dir);
    assert.equal(inline.server.href, 'https://127.0.0.1:6443/');
    assert.equal(inline.ca?.toString(), 'CA');
    assert.equal(inline.cert?.toString(), 'CERT');
    assert.equal(inline.key?.toString(), 'KEY');
    assert.equal(inline.token, undefined);

    await writeFile(join(dir, 'tok'), 'secret-token\n');
    const fromFile = parseKubeconfig(yaml('{ tokenFile: tok }'), dir);
    assert.equal(fromFile.token?.(), 'secret-token', 'relative paths resolve against the kubeconfig dir');

    assert.throws(() => parseKubeconfig('clusters: []', dir), /clusters/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('findKubeTarget: kubeconfig, else in-cluster service account, else standalone', async () => {
  const sa = await mkdtemp(join(tmpdir(), 'avec-sa-'));
  try {
    assert.equal(findKubeTarget(undefined, {}, sa), undefined, 'no config: standalone');
    assert.equal(findKubeTarget(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, sa), undefined, 'no token: standalone');
    await writeFile(join(sa, 'token'), 't1');
    await writeFile(join(sa, 'ca.crt'), 'CA');
    const t = findKubeTarget(undefined, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa)!;
    assert.equal(t.server.host, '[fd00::1]');
    assert.equal(t.token?.(), 't1');
    await writeFile(join(sa, 'token'), 't2');
    assert.equal(t.token?.(), 't2', 'rotated tokens are re-read');
  } finally {
    await rm(sa, { recursive: true, force: true });
  }
});
