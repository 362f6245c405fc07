// Self-managed webhook certificates: a CA and a serving certificate kept in a Secret shared by all
// replicas (created by whichever replica comes first, resourceVersion-guarded), the serving
// certificate rotated when a third of its life is left, the CA's PEM patched into the
// MutatingWebhookConfiguration's caBundle. A rotated CA keeps the old one in the bundle.
import { isStatus, PatchStrategy, type KubeApi } from '@avec/kube';
import type { Clock } from '../kube/clock.js';
import type { Logger } from '@avec/common';
import { generateCA, generateServingCert, namesMatch, needsRotation, serviceDnsNames } from './certs.js';

export const CA_DAYS = 3650;
export const SERVING_DAYS = 90;

interface TlsSecret {
  type?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  data?: Record<string, string>;
}

export interface SelfManagedOptions {
  namespace: string;
  secretName: string;
  service: string;
  webhookConfigName: string;
  clock: Clock;
  log: Logger;
}

const dec = (s?: string): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');
const enc = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

export class SelfManagedCerts {
  private patchedBundle = '';
  constructor(private readonly api: Pick<KubeApi, 'secrets' | 'mutatingWebhooks'>, private readonly o: SelfManagedOptions) {}

  /** Make sure a valid pair exists; returns the serving certificate and key to use. */
  async ensure(): Promise<{ cert: string; key: string }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let secret: TlsSecret | undefined;
      try {
        secret = (await this.api.secrets.get(this.o.secretName, this.o.namespace)) as TlsSecret;
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
      const now = this.o.clock.now();
      let caCrt = dec(secret?.data?.['ca.crt']);
      let caKey = dec(secret?.data?.['ca.key']);
      let bundle = dec(secret?.data?.['ca-bundle.crt']) || caCrt;
      let crt = dec(secret?.data?.['tls.crt']);
      let key = dec(secret?.data?.['tls.key']);
      let changed = false;
      if (!caCrt || !caKey || needsRotation(caCrt, now)) {
        const ca = generateCA(`${this.o.service}-webhook-ca`, new Date(now), CA_DAYS);
        bundle = caCrt ? `${ca.certPem}${caCrt}` : ca.certPem; // keep trusting the old CA for a while
        caCrt = ca.certPem;
        caKey = ca.keyPem;
        crt = '';
        changed = true;
      }
      const dns = serviceDnsNames(this.o.service, this.o.namespace);
      // Reissued as well when the names it must carry changed (another Service name or namespace).
      if (!crt || !key || needsRotation(crt, now) || !namesMatch(crt, dns, ['127.0.0.1'])) {
        if (crt && !needsRotation(crt, now)) this.o.log.info('webhook certificate names changed; reissuing', { namespace: this.o.namespace, name: this.o.secretName, want: dns });
        const s = generateServingCert({ certPem: caCrt, keyPem: caKey }, dns, ['127.0.0.1'], new Date(now), SERVING_DAYS);
        crt = s.certPem;
        key = s.keyPem;
        changed = true;
      }
      if (changed) {
        const body = {
          apiVersion: 'v1',
          kind: 'Secret',
          type: secret?.type ?? 'kubernetes.io/tls', // a Secret's type cannot change
          metadata: { name: this.o.secretName, namespace: this.o.namespace, ...(secret?.metadata.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}) },
          data: { 'ca.crt': enc(caCrt), 'ca.key': enc(caKey), 'ca-bundle.crt': enc(bundle), 'tls.crt': enc(crt), 'tls.key': enc(key) },
        };
        try {
          if (secret) await this.api.secrets.replace(this.o.secretName, body, this.o.namespace);
          else await this.api.secrets.create(body, this.o.namespace);
          this.o.log.info('webhook certificate written', { namespace: this.o.namespace, name: this.o.secretName });
        } catch (err) {
          if (isStatus(err, 409)) continue; // another replica wrote first: use theirs
          throw err;
        }
      }
      await this.patchCABundle(bundle);
      return { cert: crt, key };
    }
    throw new Error('webhook certificate Secret kept changing under us');
  }

  private async patchCABundle(bundle: string): Promise<void> {
    if (!this.o.webhookConfigName || bundle === this.patchedBundle) return;
    const cfg = (await this.api.mutatingWebhooks.get(this.o.webhookConfigName)) as { webhooks?: Array<{ clientConfig?: { caBundle?: string } }> };
    const want = enc(bundle);
    const ops = (cfg.webhooks ?? [])
      .map((w, i) => ({ w, i }))
      .filter(({ w }) => w.clientConfig?.caBundle !== want)
      .map(({ i }) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want }));
    if (ops.length) {
      await this.api.mutatingWebhooks.patch(this.o.webhookConfigName, ops, PatchStrategy.JsonPatch);
      this.o.log.info('caBundle patched', { name: this.o.webhookConfigName, webhooks: ops.length });
    }
    this.patchedBundle = bundle;
  }
}
