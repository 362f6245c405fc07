// The test control plane itself: real etcd + kube-apiserver come up on loopback, serve the CRDs,
// enforce RBAC, issue service-account tokens, and leave nothing behind after stop().
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { KubeError } from '@avec/kube';

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
    try {
      const list = await rest.get<any>('/apis/avec.dev/v1alpha1/gpunodes');
      assert.deepEqual(list.items, []);
      await assert.rejects(rest.get('/api/v1/namespaces/nope'), (e: unknown) => e instanceof KubeError && e.status === 404);
    } finally {
      rest.close();
    }
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
