import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), 'main.js');

test('main --help exits 0 and documents the flags e2e relies on; a bad flag exits 2 with a message', () => {
  const h = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8', env: {} });
  assert.equal(h.status, 0, h.stderr);
  for (const f of ['--kubeconfig', '--namespace', '--webhook-port', '--webhook-cert-dir', '--health-port', '--metrics-port', '--leader-elect', '--ticket-key-dir', '--identity', '--heartbeat-timeout-seconds']) {
    assert.ok(h.stdout.includes(f), f);
  }
  const bad = spawnSync(process.execPath, [main, '--webhook-port=0', '--ticket-key-dir=/nonexistent', '--heartbeat-timeout-seconds=-3'], { encoding: 'utf8', env: {} });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--heartbeat-timeout-seconds=-3/);
  const nokeys = spawnSync(process.execPath, [main, '--webhook-port=0', '--ticket-key-dir=/nonexistent'], { encoding: 'utf8', env: {} });
  assert.equal(nokeys.status, 1);
  assert.match(nokeys.stderr, /"code":"KeyringUnreadable"/);
});

test('main --version; release-claims --help, and a bad release-claims flag exits 2 with the usage', () => {
  const v = spawnSync(process.execPath, [main, '--version'], { encoding: 'utf8', env: {} });
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^avec operator \d+\.\d+\.\d+\n$/);
  const h = spawnSync(process.execPath, [main, 'release-claims', '--help'], { encoding: 'utf8', env: {} });
  assert.equal(h.status, 0, h.stderr);
  for (const f of ['--deleting-only', '--force', '--operator-namespace']) assert.ok(h.stdout.includes(f), f);
  const bad = spawnSync(process.execPath, [main, 'release-claims', '--everything'], { encoding: 'utf8', env: {} });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Unknown option '--everything'/);
  const nocluster = spawnSync(process.execPath, [main, 'release-claims'], { encoding: 'utf8', env: { HOME: '/nonexistent' } });
  assert.equal(nocluster.status, 1);
  assert.match(nocluster.stderr, /release-claims: no kubeconfig: pass --kubeconfig/);
});
