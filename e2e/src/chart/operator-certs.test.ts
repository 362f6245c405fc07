// webhook.certificates.mode=operator: the chart creates no certificate; the operator, running with
// exactly the chart's RBAC, generates the CA and serving certificate, stores them in its Secret and
// patches the caBundle of the chart's webhook configuration (its only write to webhook configs).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installAvec, type AvecInstall } from '../harness/avec-install.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { startOperator, type OperatorProcess } from '../harness/operator-process.js';
import { waitFor } from '../harness/wait.js';

describe('chart with operator-managed webhook certificates', () => {
  let cp: ControlPlane;
  let inst: AvecInstall;
  let op: OperatorProcess;

  before(async () => {
    cp = await startControlPlane({ name: 'operator-certs' });
    inst = await installAvec(cp, { set: { 'webhook.certificates.mode': 'operator' } });
  });
  after(async () => {
    await op?.stop();
    await cp?.stop();
  });

  it('renders no certificate and an empty caBundle', async () => {
    const secret = await cp.kubectl(['get', 'secret', 'avec-webhook-cert', '-n', 'avec-system', '--ignore-not-found', '-o', 'name']);
    assert.equal(secret.stdout.trim(), '');
    const mwc = JSON.parse((await cp.kubectl(['get', 'mutatingwebhookconfiguration', 'avec-webhook', '-o', 'json'])).stdout);
    assert.equal(mwc.webhooks[0].clientConfig.caBundle, undefined);
  });

  it('lets the operator create its certificates and patch the caBundle with the chart RBAC', async () => {
    const dep = JSON.parse((await cp.kubectl(['get', 'deployment', 'avec-operator', '-n', 'avec-system', '-o', 'json'])).stdout);
    const chartArgs = (dep.spec.template.spec.containers[0].args as string[]).filter((a) => a.startsWith('--webhook-') && !a.startsWith('--webhook-port'));
    op = await startOperator(cp, inst, { identity: 'certs', webhookPort: inst.webhookPort, extraArgs: chartArgs });
    const mwc = await waitFor(async () => {
      const m = JSON.parse((await cp.kubectl(['get', 'mutatingwebhookconfiguration', 'avec-webhook', '-o', 'json'])).stdout);
      return m.webhooks[0].clientConfig.caBundle ? m : undefined;
    }, { what: 'caBundle patched by the operator', timeoutMs: 30_000 });
    const secret = JSON.parse((await cp.kubectl(['get', 'secret', 'avec-webhook-cert', '-n', 'avec-system', '-o', 'json'])).stdout);
    const bundle = Buffer.from(mwc.webhooks[0].clientConfig.caBundle, 'base64').toString();
    const ca = Buffer.from(secret.data['ca.crt'], 'base64').toString();
    assert.ok(bundle.includes(ca.trim()), 'the caBundle holds the CA of the operator\'s Secret');
    assert.match(op.process.tail(200), /caBundle patched/);
    assert.doesNotMatch(op.process.tail(200), /forbidden/i);
  });
});
