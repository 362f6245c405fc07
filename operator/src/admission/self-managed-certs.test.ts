import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { SelfManagedCerts } from './self-managed-certs.js';
import { KubeError, type KubeObject, type Resource } from '@avec/kube';
import { ManualClock } from '../kube/clock.js';
import { silentLogger } from '@avec/common';

class FakeApi {
  secret: { metadata: { name: string; namespace: string; resourceVersion: string }; data: Record<string, string> } | undefined;
  webhook = { webhooks: [{ clientConfig: {} as { caBundle?: string } }, { clientConfig: {} as { caBundle?: string } }] };
  writes = 0;
  patches = 0;
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (path.includes('mutatingwebhookconfigurations')) {
      if (method === 'GET') return structuredClone(this.webhook) as T;
      this.patches++;
      for (const op of body as Array<{ path: string; value: string }>) this.webhook.webhooks[Number(op.path.split('/')[2])].clientConfig.caBundle = op.value;
      return {} as T;
    }
    if (method === 'GET') {
      if (!this.secret) throw new KubeError(404, 'NotFound', 'not found');
      return structuredClone(this.secret) as T;
    }
    const b = body as { metadata: { name: string; namespace: string; resourceVersion?: string }; data: Record<string, string> };
    if (method === 'POST' && this.secret) throw new KubeError(409, 'AlreadyExists', 'exists');
    if (method === 'PUT' && b.metadata.resourceVersion !== this.secret?.metadata.resourceVersion) throw new KubeError(409, 'Conflict', 'conflict');
    this.writes++;
    this.secret = { metadata: { ...b.metadata, resourceVersion: String(this.writes) }, data: b.data };
    return structuredClone(this.secret) as T;
  }
  /** The two kinds SelfManagedCerts uses, as Resources over request(). */
  private resource(kind: string): Resource {
    return {
      kind,
      get: (name: string) => this.request(`GET`, `${kind}/${name}`),
      create: (body: KubeObject) => this.request('POST', kind, body),
      replace: (name: string, body: KubeObject) => this.request('PUT', `${kind}/${name}`, body),
      patch: (name: string, body: unknown) => this.request('PATCH', `${kind}/${name}`, body),
    } as unknown as Resource;
  }
  readonly secrets = this.resource('secrets');
  readonly mutatingWebhooks = this.resource('mutatingwebhookconfigurations');
}

test('self-managed certs: created once, shared, rotated before expiry, caBundle patched', async () => {
  const api = new FakeApi();
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const opts = { namespace: 'avec-system', secretName: 'avec-webhook-cert', service: 'avec-operator', webhookConfigName: 'avec', clock, log: silentLogger };
  const a = new SelfManagedCerts(api, opts);
  const t1 = await a.ensure();
  assert.equal(api.writes, 1);
  const ca = Buffer.from(api.secret!.data['ca.crt'], 'base64').toString();
  assert.equal(new X509Certificate(t1.cert).verify(new X509Certificate(ca).publicKey), true);
  assert.match(new X509Certificate(t1.cert).subjectAltName ?? '', /avec-operator\.avec-system\.svc/);
  assert.deepEqual(api.webhook.webhooks.map((w) => w.clientConfig.caBundle), [api.secret!.data['ca.crt'], api.secret!.data['ca.crt']]);
  // A second replica reuses the same pair.
  const t2 = await new SelfManagedCerts(api, opts).ensure();
  assert.equal(t2.cert, t1.cert);
  assert.equal(api.writes, 1);
  assert.equal(api.patches, 1, 'bundle already correct: no second patch');
  // 61 of 90 days later the serving certificate is renewed by the same CA.
  clock.advance(61 * 86_400_000);
  const t3 = await a.ensure();
  assert.notEqual(t3.cert, t1.cert);
  assert.equal(api.writes, 2);
  assert.equal(Buffer.from(api.secret!.data['ca.crt'], 'base64').toString(), ca);
});

test('self-managed certs: a changed Service name reissues the serving certificate (same CA), even long before expiry', async () => {
  const api = new FakeApi();
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const base = { namespace: 'avec-system', secretName: 'avec-webhook-cert', webhookConfigName: 'avec', clock, log: silentLogger };
  const t1 = await new SelfManagedCerts(api, { ...base, service: 'avec-operator' }).ensure();
  const ca = api.secret!.data['ca.crt'];
  const t2 = await new SelfManagedCerts(api, { ...base, service: 'gpu-operator' }).ensure();
  assert.notEqual(t2.cert, t1.cert);
  assert.match(new X509Certificate(t2.cert).subjectAltName ?? '', /DNS:gpu-operator\.avec-system\.svc/);
  assert.doesNotMatch(new X509Certificate(t2.cert).subjectAltName ?? '', /avec-operator/);
  assert.equal(api.secret!.data['ca.crt'], ca, 'same CA: the caBundle stays valid');
  const t3 = await new SelfManagedCerts(api, { ...base, service: 'gpu-operator' }).ensure();
  assert.equal(t3.cert, t2.cert, 'unchanged names: kept');
});

