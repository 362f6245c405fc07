import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseKubeconfig, loadConnection } from './kubeconfig.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('kubeconfig: current context, inline cert data, relative token file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'avec-kc-'));
  writeFileSync(join(dir, 'tok'), 'secret-token\n');
  const text = `
apiVersion: v1
kind: Config
current-context: b
clusters:
- name: c1
  cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: "${b64('CA')}" }
contexts:
- name: a
  context: { cluster: c1, user: u1 }
- name: b
  context: { cluster: c1, user: u2 }
users:
- name: u1
  user: { client-certificate-data: "${b64('CERT')}", client-key-data: "${b64('KEY')}" }
- name: u2
  user: { tokenFile: tok }
`;
  const c = parseKubeconfig(text, dir);
  assert.equal(c.server.href, 'https://127.0.0.1:6443/');
  assert.equal(c.ca?.toString(), 'CA');
  assert.equal(c.cert, undefined);
  assert.equal(c.token?.(), 'secret-token');
  const a = parseKubeconfig(text.replace('current-context: b', 'current-context: a'), dir);
  assert.equal(a.cert?.toString(), 'CERT');
  assert.equal(a.key?.toString(), 'KEY');
  assert.throws(() => parseKubeconfig(text.replace('current-context: b', 'current-context: zz'), dir), { code: 'KubeconfigNoContext' });
  writeFileSync(join(dir, 'config'), text);
  assert.equal(loadConnection(undefined, { KUBECONFIG: join(dir, 'config') }).token?.(), 'secret-token');
});
