// A throwaway PKI for the test control plane, made with the openssl CLI: one CA, serving certs
// (API server, webhooks), client certs (admin = system:masters) and the service-account key pair.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

export interface CertFiles {
  cert: string;
  key: string;
}

export class TestPki {
  readonly ca: CertFiles;
  private serial = 1;

  private constructor(readonly dir: string) {
    this.ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  }

  static async create(dir: string): Promise<TestPki> {
    const pki = new TestPki(dir);
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
    await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=avec-e2e-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', 'ca.crt'], dir);
    return pki;
  }

  get caPem(): string {
    return readFileSync(this.ca.cert, 'utf8');
  }

  /** A leaf certificate signed by the CA. `sans` entries are `IP:1.2.3.4` or `DNS:name`. */
  async issue(name: string, opts: { cn: string; org?: string; sans?: string[]; usage: 'server' | 'client' }): Promise<CertFiles> {
    const key = `${name}.key`;
    const csr = `${name}.csr`;
    const crt = `${name}.crt`;
    const ext = `${name}.ext`;
    const subj = `/CN=${opts.cn}` + (opts.org ? `/O=${opts.org}` : '');
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], this.dir);
    await openssl(['req', '-new', '-key', key, '-subj', subj, '-out', csr], this.dir);
    const lines = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${opts.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ];
    if (opts.sans?.length) lines.push(`subjectAltName=${opts.sans.join(',')}`);
    writeFileSync(join(this.dir, ext), lines.join('\n') + '\n');
    await openssl(['x509', '-req', '-in', csr, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(++this.serial),
      '-days', '2', '-sha256', '-extfile', ext, '-out', crt], this.dir);
    return { cert: join(this.dir, crt), key: join(this.dir, key) };
  }

  /** The key pair the API server signs and verifies service-account tokens with. */
  async serviceAccountKeys(): Promise<{ privateKey: string; publicKey: string }> {
    await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], this.dir);
    await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], this.dir);
    return { privateKey: join(this.dir, 'sa.key'), publicKey: join(this.dir, 'sa.pub') };
  }
}
