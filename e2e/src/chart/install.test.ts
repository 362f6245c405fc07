// `helm install` of charts/avec into the real test API server: every object exists afterwards, the
// RBAC it grants is exactly what the components need (checked by the API server's own authorizer),
// and an upgrade keeps the generated webhook certificate and ticket keys.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installAvec, type AvecInstall } from '../harness/avec-install.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { CHART_DIR } from './render.js';

describe('helm install charts/avec', () => {
  let cp: ControlPlane;
  let inst: AvecInstall;
  before(async () => {
    cp = await startControlPlane({ name: 'chart-install' });
    inst = await installAvec(cp);
  });
  after(async () => {
    await cp?.stop();
  });

  const get = async (args: string[]) => JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout);

  it('is deployed and lists its objects', async () => {
    const { stdout } = await cp.helm(['status', 'avec', '-n', 'avec-system', '-o', 'json']);
    assert.equal(JSON.parse(stdout).info.status, 'deployed');
    // NOTES.txt: the next steps a user sees after helm install.
    const notes = (await cp.helm(['get', 'notes', 'avec', '-n', 'avec-system'])).stdout;
    assert.match(notes, /avec 0\.1\.0 is installed in namespace avec-system/);
    assert.match(notes, /kubectl apply -f operator\/examples\/claim\.yaml/);
    assert.match(notes, /kubectl get vgc -A -o wide/);
    assert.match(notes, /delete the claims first/);
    const dep = await get(['get', 'deployment', 'avec-operator', '-n', 'avec-system']);
    assert.equal(dep.spec.replicas, 2);
    const ds = await get(['get', 'daemonset', 'avec-remoting-server', '-n', 'avec-system']);
    assert.deepEqual(ds.spec.template.spec.nodeSelector, { 'avec.dev/gpu': 'true' });
    await get(['get', 'service', 'avec-operator', '-n', 'avec-system']);
    await get(['get', 'poddisruptionbudget', 'avec-operator', '-n', 'avec-system']);
    const mwc = await get(['get', 'mutatingwebhookconfiguration', 'avec-webhook']);
    assert.equal(mwc.webhooks[0].failurePolicy, 'Fail');
    assert.equal(mwc.webhooks[0].clientConfig.url, `https://127.0.0.1:${inst.webhookPort}/mutate-pods`);
    assert.ok(mwc.webhooks[0].clientConfig.caBundle.length > 100);
    const crds = await get(['get', 'crd', '-l', 'app.kubernetes.io/part-of=avec']);
    assert.equal(crds.items.length, 2);
  });

  const canI = async (sa: string, verbResource: string[], ns?: string): Promise<boolean> => {
    const res = await cp.kubectl(['auth', 'can-i', ...verbResource, `--as=system:serviceaccount:avec-system:${sa}`,
      ...(ns ? ['-n', ns] : ['--all-namespaces'])], { check: false });
    return res.stdout.trim() === 'yes';
  };

  const operatorMay: string[][] = [
    ['watch', 'virtualgpuclaims.avec.dev'], ['create', 'virtualgpuclaims.avec.dev'], ['update', 'virtualgpuclaims.avec.dev'],
    ['patch', 'virtualgpuclaims.avec.dev', '--subresource=status'], ['update', 'gpunodes.avec.dev', '--subresource=status'],
    ['list', 'gpunodes.avec.dev'], ['update', 'pods'], ['create', 'secrets'], ['update', 'secrets'], ['create', 'events'],
    ['list', 'nodes'],
  ];
  const operatorMayNot: string[][] = [
    ['delete', 'virtualgpuclaims.avec.dev'], ['update', 'gpunodes.avec.dev'], ['delete', 'gpunodes.avec.dev'],
    ['create', 'pods'], ['delete', 'pods'], ['update', 'nodes'], ['create', 'clusterrolebindings'],
    ['update', 'mutatingwebhookconfigurations'], ['deletecollection', 'secrets'], ['get', 'configmaps'],
  ];
  it('lets the operator do its work', async () => {
    for (const vr of operatorMay) assert.ok(await canI('avec-operator', vr), `operator may ${vr.join(' ')}`);
    assert.ok(await canI('avec-operator', ['update', 'leases.coordination.k8s.io'], 'avec-system'));
  });
  it('denies the operator everything else', async () => {
    for (const vr of operatorMayNot) assert.equal(await canI('avec-operator', vr), false, `operator must not ${vr.join(' ')}`);
    assert.equal(await canI('avec-operator', ['update', 'leases.coordination.k8s.io'], 'default'), false,
      'leases only in its own namespace');
  });
  it('limits the remoting server to GPUNodes and reading Nodes', async () => {
    assert.ok(await canI('avec-remoting-server', ['create', 'gpunodes.avec.dev']));
    assert.ok(await canI('avec-remoting-server', ['patch', 'gpunodes.avec.dev', '--subresource=status']));
    assert.ok(await canI('avec-remoting-server', ['get', 'nodes']));
    for (const vr of [['get', 'secrets'], ['list', 'virtualgpuclaims.avec.dev'], ['list', 'nodes'], ['delete', 'gpunodes.avec.dev'], ['create', 'pods']]) {
      assert.equal(await canI('avec-remoting-server', vr), false, `remoting server must not ${vr.join(' ')}`);
    }
  });

  it('keeps the webhook certificate and ticket keys across helm upgrade', async () => {
    const before = await get(['get', 'secret', '-n', 'avec-system', 'avec-webhook-cert', 'avec-ticket-keys']);
    await cp.helm(['upgrade', 'avec', CHART_DIR, '-n', 'avec-system', '--reuse-values', '--set', 'operator.logLevel=debug']);
    const after = await get(['get', 'secret', '-n', 'avec-system', 'avec-webhook-cert', 'avec-ticket-keys']);
    assert.deepEqual(after.items.map((s: any) => s.data), before.items.map((s: any) => s.data));
    const mwc = await get(['get', 'mutatingwebhookconfiguration', 'avec-webhook']);
    assert.equal(mwc.webhooks[0].clientConfig.caBundle, before.items.find((s: any) => s.metadata.name === 'avec-webhook-cert').data['ca.crt']);
    const dep = await get(['get', 'deployment', 'avec-operator', '-n', 'avec-system']);
    assert.equal(dep.spec.template.spec.containers[0].env.find((e: any) => e.name === 'AVEC_LOG').value, 'debug');
  });

  it('uninstalls cleanly but keeps the ticket keys (resource policy keep)', async () => {
    await cp.helm(['uninstall', 'avec', '-n', 'avec-system', '--wait']);
    const left = await cp.kubectl(['get', 'deployment,daemonset,mutatingwebhookconfiguration', '-A', '-l', 'app.kubernetes.io/instance=avec', '-o', 'name']);
    assert.equal(left.stdout.trim(), '');
    await get(['get', 'secret', 'avec-ticket-keys', '-n', 'avec-system']);
  });

  it('re-installs over the kept ticket keys without changing them', async () => {
    const kept = await get(['get', 'secret', 'avec-ticket-keys', '-n', 'avec-system']);
    await cp.helm(['install', 'avec', CHART_DIR, '-n', 'avec-system']);
    const after = await get(['get', 'secret', 'avec-ticket-keys', '-n', 'avec-system']);
    assert.deepEqual(after.data, kept.data, 'tickets signed before the re-install stay valid');
  });
});
