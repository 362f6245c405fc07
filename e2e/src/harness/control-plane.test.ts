// The test control plane itself: real etcd + kube-apiserver come up on loopback, serve the CRDs,
// enforce RBAC, issue service-account tokens, and leave nothing behind after stop().
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { KubeClient, KubeError, readKubeconfig } from '@avec/kube';

describe('test control plane', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane({ name: 'harness' });
  });
  after(async () => {
    await cp?.stop();
  });

  it('serves the v1.34 API built from k8s.io/kubernetes', async () => {
    const { stdout } = await cp.kubectl(['version', '-o', 'json']);
    const v = JSON.parse(stdout);
    assert.match(v.serverVersion.gitVersion, /^v1\.34\./);
    assert.match(v.clientVersion.gitVersion, /^v1\.34\./);
  });

  it('has the avec CRDs established, with the vgc short name', async () => {
    const { stdout } = await cp.kubectl(['api-resources', '--api-group=avec.dev', '-o', 'wide']);
    assert.match(stdout, /virtualgpuclaims\s+vgc\s+avec\.dev\/v1alpha1\s+true\s+VirtualGPUClaim/);
    assert.match(stdout, /gpunodes\s+\S*\s*avec\.dev\/v1alpha1\s+false\s+GPUNode/);
  });

  it('enforces RBAC for service accounts with TokenRequest tokens', async () => {
    await cp.kubectl(['create', 'namespace', 'rbac-check']);
    await cp.kubectl(['create', 'serviceaccount', 'reader', '-n', 'rbac-check']);
    const kc = await cp.serviceAccountKubeconfig('rbac-check', 'reader');
    const denied = await cp.kubectl(['--kubeconfig', kc, 'get', 'secrets'], { check: false });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /forbidden/);
    await cp.kubectl(['create', 'role', 'secret-reader', '-n', 'rbac-check', '--verb=list', '--resource=secrets']);
    await cp.kubectl(['create', 'rolebinding', 'r', '-n', 'rbac-check', '--role=secret-reader', '--serviceaccount=rbac-check:reader']);
    const allowed = await cp.kubectl(['--kubeconfig', kc, 'get', 'secrets']);
    assert.equal(allowed.code, 0);
  });

  it('answers REST calls with the admin identity and reports API errors with their status', async () => {
    const rest = cp.rest();
    const list = await rest.gpuNodes.list();
    assert.deepEqual(list.items, []);
    await assert.rejects(rest.namespaces.get('nope'), (e: unknown) => e instanceof KubeError && e.status === 404 && e.code === 'NotFound');
  });

  it('authenticates through client-node with an exec credential plugin (EKS/GKE-style kubeconfig), never as anonymous', async () => {
    await cp.kubectl(['create', 'namespace', 'exec-check']);
    await cp.kubectl(['create', 'serviceaccount', 'exec-user', '-n', 'exec-check']);
    // (No controller-manager here aggregates the built-in "view" role: an explicit Role instead.)
    await cp.kubectl(['create', 'role', 'pod-reader', '-n', 'exec-check', '--verb=list', '--resource=pods']);
    await cp.kubectl(['create', 'rolebinding', 'exec-view', '-n', 'exec-check', '--role=pod-reader', '--serviceaccount=exec-check:exec-user']);
    const { stdout: token } = await cp.kubectl(['create', 'token', 'exec-user', '-n', 'exec-check', '--duration=1h']);
    // The plugin prints an ExecCredential with the token and counts its runs (client-node caches
    // the credential until it expires, so one run serves every call below).
    const plugin = join(cp.dir, 'exec-plugin.sh');
    const runs = join(cp.dir, 'exec-plugin.runs');
    writeFileSync(plugin, `#!/bin/sh\necho run >> ${runs}\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' '${token.trim()}'\n`, { mode: 0o755 });
    const kubeconfig = join(cp.dir, 'kubeconfig-exec');
    writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: { server: "${cp.server}", certificate-authority: "${cp.pki.ca.cert}" }
users:
- name: exec-user
  user:
    exec: { apiVersion: client.authentication.k8s.io/v1, command: "${plugin}", interactiveMode: Never }
contexts:
- name: x
  context: { cluster: c, user: exec-user }
current-context: x
`);
    const client = new KubeClient(readKubeconfig(kubeconfig));
    const pods = await client.pods.list({}, 'exec-check');
    assert.deepEqual(pods.items, [], 'its Role lets the service account list pods in its namespace');
    await assert.rejects(client.secrets.list({}, 'exec-check'), (e: unknown) =>
      e instanceof KubeError && e.status === 403 && /system:serviceaccount:exec-check:exec-user/.test(e.message));
    assert.ok(readFileSync(runs, 'utf8').trim().split('\n').length >= 1, 'the exec plugin ran');
  });

  it('stops etcd and kube-apiserver and removes its directory', async () => {
    const other = await startControlPlane({ installCrds: false });
    const pids = [other.etcd.process.pid, other.apiServer.process.pid];
    await other.stop();
    assert.equal(other.etcd.process.running, false);
    assert.equal(other.apiServer.process.running, false);
    for (const pid of pids) assert.throws(() => process.kill(pid!, 0), /ESRCH/);
    assert.equal(existsSync(other.dir), false);
  });
});
