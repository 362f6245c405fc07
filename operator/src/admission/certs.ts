// Webhook certificates: a CA and a serving certificate (RSA 2048 keys from node:crypto, X.509
// built by node-forge since node:crypto cannot issue certificates), and rotation decisions.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

export interface CertPair {
  certPem: string;
  keyPem: string;
}

function newKeys(): { pub: forge.pki.rsa.PublicKey; priv: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return {
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    priv: forge.pki.privateKeyFromPem(keyPem),
    keyPem,
  };
}

function base(pub: forge.pki.rsa.PublicKey, cn: string, notBefore: Date, days: number): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  // Positive serial: clear the top bit.
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  c.serialNumber = serial.toString('hex');
  c.validity.notBefore = new Date(notBefore.getTime() - 5 * 60_000); // tolerate clock skew
  c.validity.notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  c.setSubject([{ name: 'commonName', value: cn }]);
  return c;
}

export function generateCA(cn: string, now: Date, days: number): CertPair {
  const k = newKeys();
  const c = base(k.pub, cn, now, days);
  c.setIssuer(c.subject.attributes);
  c.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  c.sign(k.priv, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(c), keyPem: k.keyPem };
}

export function generateServingCert(ca: CertPair, dnsNames: string[], ips: string[], now: Date, days: number): CertPair {
  const k = newKeys();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const c = base(k.pub, dnsNames[0] ?? ips[0] ?? 'avec-webhook', now, days);
  c.setIssuer(caCert.subject.attributes);
  c.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))] },
  ]);
  c.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(c), keyPem: k.keyPem };
}

/** Rotate when less than a third of the certificate's lifetime is left (or it is unreadable). */
export function needsRotation(certPem: string | undefined, nowMs: number): boolean {
  if (!certPem) return true;
  try {
    const x = new X509Certificate(certPem);
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    return to - nowMs < (to - from) / 3;
  } catch {
    return true;
  }
}

/** True when the certificate names exactly what is wanted (else a changed Service name or IP list would keep an old certificate). */
export function namesMatch(certPem: string, dnsNames: readonly string[], ips: readonly string[]): boolean {
  try {
    const have = (new X509Certificate(certPem).subjectAltName ?? '').split(', ').filter(Boolean).sort();
    const want = [...dnsNames.map((d) => `DNS:${d}`), ...ips.map((ip) => `IP Address:${ip}`)].sort();
    return JSON.stringify(have) === JSON.stringify(want);
  } catch {
    return false;
  }
}

/** DNS names a webhook Service is reached by. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}
