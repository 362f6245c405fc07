// charts/avec: `helm lint`, the rendered objects (replicas, RBAC verbs, webhook settings, certs) and
// values.schema.json refusing bad values. No cluster needed.
import assert from 'node:assert/strict';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CHART_DIR, find, helm, renderChart, type K8sObject } from './render.js';
import { runCli } from '../harness/cli.js';
import { REPO_ROOT } from '../harness/repo-root.js';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
const rules = (o: K8sObject): Rule[] => o.rules as Rule[];
const verbsFor = (rs: Rule[], group: string, resource: string): string[] =>
  rs.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs).sort();

describe('charts/avec', () => {
  it('passes helm lint --strict', async () => {
    const res = await helm(['lint', '--strict', CHART_DIR]);
    assert.match(res.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(`${res.stdout}${res.stderr}`, /symlink/i, 'the chart ships its CRDs as files (crds/ links to them), so helm warns about no symlink');
    assert.ok(!lstatSync(join(CHART_DIR, 'crds')).isSymbolicLink());
  });

  it('ships exactly the CRDs of crds/', async () => {
    const objs = await renderChart();
    const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name).sort();
    const files = readdirSync(join(REPO_ROOT, 'crds')).filter((f) => f.endsWith('.yaml')).length;
    assert.deepEqual(crds, ['gpunodes.avec.dev', 'virtualgpuclaims.avec.dev']);
    assert.equal(crds.length, files);
  });

  it('runs two operator replicas with leader election, probes and a restricted security context', async () => {
    const objs = await renderChart();
    const dep = find(objs, 'Deployment', '-operator') as K8sObject & { spec: any };
    assert.equal(dep.spec.replicas, 2);
    const c = dep.spec.template.spec.containers[0];
    assert.ok(c.args.includes('--leader-elect=true'), c.args.join(' '));
    assert.ok(c.args.includes('--identity=$(POD_NAME)'));
    assert.ok(c.args.includes('--webhook-port=9443'));
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(dep.spec.template.spec.securityContext.runAsNonRoot, true);
    const pdb = find(objs, 'PodDisruptionBudget', '-operator') as K8sObject & { spec: any };
    assert.equal(pdb.spec.minAvailable, 1);
  });

  it('gives the operator least-privilege RBAC', async () => {
    const objs = await renderChart();
    const cr = rules(find(objs, 'ClusterRole', '-operator'));
    assert.deepEqual(verbsFor(cr, 'avec.dev', 'virtualgpuclaims'), ['create', 'get', 'list', 'patch', 'update', 'watch']);
    assert.deepEqual(verbsFor(cr, 'avec.dev', 'virtualgpuclaims/status'), ['get', 'patch', 'update']);
    assert.deepEqual(verbsFor(cr, 'avec.dev', 'gpunodes'), ['get', 'list', 'watch'], 'the operator never writes GPUNode spec');
    assert.deepEqual(verbsFor(cr, '', 'nodes'), ['get', 'list', 'watch']);
    assert.deepEqual(verbsFor(cr, '', 'pods'), ['get', 'list', 'patch', 'update', 'watch'], 'no create/delete of pods');
    for (const r of cr) {
      assert.ok(!r.verbs.includes('*') && !r.resources.includes('*') && !r.apiGroups.includes('*'), `wildcard in ${JSON.stringify(r)}`);
      assert.ok(!r.verbs.includes('deletecollection') && !r.verbs.includes('escalate') && !r.verbs.includes('bind'));
    }
    assert.equal(verbsFor(cr, 'coordination.k8s.io', 'leases').length, 0, 'leases only in the release namespace');
    const role = find(objs, 'Role', '-leader-election');
    assert.equal(role.metadata.namespace, 'avec-system');
    assert.deepEqual(verbsFor(rules(role), 'coordination.k8s.io', 'leases'), ['create', 'get', 'list', 'patch', 'update', 'watch']);
    const rs = rules(find(objs, 'ClusterRole', '-remoting-server'));
    assert.equal(verbsFor(rs, '', 'secrets').length, 0, 'remoting server reads ticket keys from a volume, not the API');
    assert.deepEqual(verbsFor(rs, '', 'nodes'), ['get']);
    assert.equal(verbsFor(rs, 'avec.dev', 'virtualgpuclaims').length, 0);
  });

  it('configures the webhook to fail closed, only for opted-in pods, never for its own namespace', async () => {
    const objs = await renderChart({}, 'gpu-ops');
    const mwc = find(objs, 'MutatingWebhookConfiguration') as K8sObject & { webhooks: any[] };
    assert.equal(mwc.webhooks.length, 1);
    const wh = mwc.webhooks[0];
    assert.equal(wh.failurePolicy, 'Fail');
    assert.equal(wh.sideEffects, 'NoneOnDryRun');
    assert.deepEqual(wh.rules[0].operations, ['CREATE']);
    assert.deepEqual(wh.rules[0].resources, ['pods']);
    const ns = wh.namespaceSelector.matchExpressions[0];
    assert.equal(ns.key, 'kubernetes.io/metadata.name');
    assert.equal(ns.operator, 'NotIn');
    assert.ok(ns.values.includes('gpu-ops') && ns.values.includes('kube-system'), ns.values.join(','));
    assert.ok(wh.objectSelector.matchExpressions.length > 0);
    assert.match(wh.matchConditions[0].expression, /avec\.dev\/claim/);
    assert.match(wh.matchConditions[0].expression, /k\.startsWith\('avec\.dev\/gpu-'\)/, 'every avec.dev/gpu-* annotation reaches the webhook (and is refused when incomplete)');
    assert.equal(wh.clientConfig.service.namespace, 'gpu-ops');
    assert.equal(wh.clientConfig.service.path, '/mutate-pods');
    // generate mode: the caBundle is the CA in the serving Secret.
    const secret = find(objs, 'Secret', '-webhook-cert') as K8sObject & { data: Record<string, string> };
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.equal(wh.clientConfig.caBundle, secret.data['ca.crt']);
    const pem = Buffer.from(secret.data['tls.crt'], 'base64').toString();
    assert.match(pem, /BEGIN CERTIFICATE/);
  });

  it('uses cert-manager when asked (Certificate + CA injection, no generated Secret)', async () => {
    const objs = await renderChart({ 'webhook.certificates.mode': 'cert-manager' });
    const mwc = find(objs, 'MutatingWebhookConfiguration') as K8sObject & { webhooks: any[] };
    assert.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], 'avec-system/avec-webhook-cert');
    assert.equal(mwc.webhooks[0].clientConfig.caBundle, undefined);
    const cert = find(objs, 'Certificate') as K8sObject & { spec: any };
    assert.ok(cert.spec.dnsNames.includes('avec-operator.avec-system.svc'));
    assert.equal(objs.filter((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-webhook-cert')).length, 0);
  });

  it('lets the operator manage its own certificates when asked (caBundle patch limited to its webhook)', async () => {
    const objs = await renderChart({ 'webhook.certificates.mode': 'operator' });
    const dep = find(objs, 'Deployment', '-operator') as K8sObject & { spec: any };
    const args: string[] = dep.spec.template.spec.containers[0].args;
    assert.ok(args.includes('--webhook-cert-mode=self-managed'));
    assert.ok(args.includes('--webhook-config-name=avec-webhook'));
    assert.equal(dep.spec.template.spec.volumes.some((v: any) => v.name === 'webhook-cert'), false);
    assert.equal(objs.filter((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-webhook-cert')).length, 0);
    const rule = rules(find(objs, 'ClusterRole', '-operator')).find((r) => r.resources.includes('mutatingwebhookconfigurations'));
    assert.deepEqual(rule?.resourceNames, ['avec-webhook']);
    assert.deepEqual(rule?.verbs.sort(), ['get', 'patch', 'update']);
    const mwc = find(objs, 'MutatingWebhookConfiguration') as K8sObject & { webhooks: any[] };
    assert.equal(mwc.webhooks[0].clientConfig.caBundle, undefined);
    const def = rules(find(await renderChart(), 'ClusterRole', '-operator'));
    assert.equal(def.some((r) => r.resources.includes('mutatingwebhookconfigurations')), false, 'only in operator mode');
  });

  it('runs the remoting server on GPU nodes only, with the ticket keys mounted', async () => {
    const objs = await renderChart({ 'remotingServer.runtimeClassName': 'nvidia' });
    const ds = find(objs, 'DaemonSet', '-remoting-server') as K8sObject & { spec: any };
    const pod = ds.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, { 'avec.dev/gpu': 'true' });
    assert.equal(pod.tolerations[0].key, 'nvidia.com/gpu');
    assert.equal(pod.runtimeClassName, 'nvidia');
    const args: string[] = pod.containers[0].args;
    assert.ok(args.includes('--backend=auto'));
    assert.ok(args.includes('--ticket-key-dir=/var/run/avec/ticket-keys'));
    const keys = find(objs, 'Secret', '-ticket-keys') as K8sObject & { data: Record<string, string> };
    assert.equal(Buffer.from(keys.data.current, 'base64').toString(), 'k1');
    assert.ok(Buffer.from(keys.data.k1, 'base64').length >= 32, 'ticket keys are at least 32 bytes (docs/tickets.md)');
    assert.equal(pod.volumes.find((v: any) => v.name === 'ticket-keys').secret.secretName, keys.metadata.name);
  });

  for (const [component, kind, main] of [
    ['operator', 'Deployment', 'operator/dist/main.js'],
    ['remoting-server', 'DaemonSet', 'remoting-server/dist/main.js'],
  ] as const) {
    it(`passes the ${component} only flags its --help lists`, async () => {
      const objs = await renderChart({ 'remotingServer.defaultSite': 'edge-a' });
      const args: string[] = (find(objs, kind, `-${component}`) as K8sObject & { spec: any }).spec.template.spec.containers[0].args;
      const help = await runCli(process.execPath, [join(REPO_ROOT, main), '--help'], { check: false, timeoutMs: 20_000 });
      const text = help.stdout + help.stderr;
      assert.match(text, /--/, `${main} --help printed no flags: ${text.slice(0, 300)}`);
      for (const a of args) {
        const flag = a.split('=')[0];
        assert.ok(new RegExp(`(^|\\s)${flag}([\\s=]|$)`, 'm').test(text), `${component} does not accept ${flag}`);
      }
    });
  }

  it('renders a ServiceMonitor only when enabled, and refuses it without the Prometheus Operator', async () => {
    assert.equal((await renderChart()).filter((o) => o.kind === 'ServiceMonitor').length, 0);
    const sm = find(await renderChart({ 'serviceMonitor.enabled': 'true' }, 'avec-system', ['monitoring.coreos.com/v1/ServiceMonitor']), 'ServiceMonitor') as K8sObject & { spec: any };
    assert.equal(sm.spec.endpoints[0].port, 'metrics');
    const res = await helm(['template', 'avec', CHART_DIR, '--set', 'serviceMonitor.enabled=true'], false);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /serviceMonitor\.enabled=true needs the Prometheus Operator/);
  });

  it('ships alerts (PrometheusRule) and a Grafana dashboard behind values', async () => {
    const objs = await renderChart({ 'monitoring.prometheusRule.enabled': 'true', 'monitoring.grafanaDashboard.enabled': 'true' }, 'avec-system', ['monitoring.coreos.com/v1/PrometheusRule']);
    const rule = find(objs, 'PrometheusRule') as K8sObject & { spec: any };
    const alerts = rule.spec.groups[0].rules.map((r: any) => r.alert);
    assert.deepEqual(alerts, ['AvecGPUNodeLost', 'AvecClaimsPendingTooLong', 'AvecSessionRefusals']);
    assert.match(rule.spec.groups[0].rules[1].expr, /avec_claims_waiting_oldest_seconds\) > 900/);
    const cm = find(objs, 'ConfigMap', 'grafana-dashboard') as K8sObject & { data: Record<string, string> };
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    const dash = JSON.parse(cm.data['avec.json']!) as { uid: string; panels: Array<{ targets: Array<{ expr: string }> }> };
    assert.equal(dash.uid, 'avec-overview');
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const m of ['avec_claims', 'avec_claim_bind_latency_seconds_bucket', 'avec_gpunode_ready', 'avec_admission_refusals_total', 'avec_sessions_active']) assert.match(exprs, new RegExp(m));
    const res = await helm(['template', 'avec', CHART_DIR, '--set', 'monitoring.prometheusRule.enabled=true'], false);
    assert.match(res.stderr, /monitoring\.prometheusRule\.enabled=true needs the Prometheus Operator/);
    assert.equal((await renderChart()).filter((o) => o.kind === 'PrometheusRule' || o.metadata.name.endsWith('grafana-dashboard')).length, 0, 'off by default');
  });

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['zero replicas', { 'operator.replicas': '0' }, /replicas/],
    ['two replicas without leader election', { 'operator.leaderElection': 'false' }, /replicas/],
    ['an unknown failure policy', { 'webhook.failurePolicy': 'Sometimes' }, /failurePolicy/],
    ['an unknown backend', { 'remotingServer.backend': 'opencl' }, /backend/],
    ['a port out of range', { 'remotingServer.dataPort': '70000' }, /dataPort/],
    ['an unknown certificate mode', { 'webhook.certificates.mode': 'manual' }, /mode/],
    ['a misspelt top-level key', { 'operater.replicas': '1' }, /operater/],
  ];
  for (const [what, set, pattern] of refused) {
    it(`refuses ${what} through values.schema.json`, async () => {
      const args = ['template', 'avec', CHART_DIR, ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`])];
      const res = await helm(args, false);
      assert.notEqual(res.code, 0, `helm accepted ${JSON.stringify(set)}`);
      assert.match(res.stderr, /values don't meet the specifications of the schema/);
      assert.match(res.stderr, pattern);
    });
  }

  it('accepts one replica without leader election', async () => {
    const objs = await renderChart({ 'operator.leaderElection': 'false', 'operator.replicas': '1' });
    const dep = find(objs, 'Deployment', '-operator') as K8sObject & { spec: any };
    assert.equal(dep.spec.replicas, 1);
    assert.equal(objs.filter((o) => o.kind === 'PodDisruptionBudget').length, 0);
  });
});
