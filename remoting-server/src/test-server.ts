// For the integration tests: the whole remoting server in this process on loopback ports, standalone
// (no API server), emulated backend, the real executor, one ticket key `k1` in a temporary key directory.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { silentLogger } from '@avec/common';
import { loadConfig, type Config } from './config.js';
import { CHECKOUT_ROOT } from './native/addon.js';
import { startRemotingServer, type RunningServer } from './server.js';

export const testExecutor = process.env.AVEC_EXECUTOR ?? resolve(CHECKOUT_ROOT, 'build', 'native', 'avec-executor');

export async function startTestServer(nodeName: string, key: Buffer): Promise<{ server: RunningServer; stop: () => Promise<void> }> {
  assert.ok(existsSync(testExecutor), `executor ${testExecutor} is missing: build it with make native`);
  const keyDir = await mkdtemp(join(tmpdir(), 'avec-it-keys-'));
  await writeFile(join(keyDir, 'k1'), key);
  const r = loadConfig({
    argv: ['--node-name', nodeName, '--kube', 'off', '--data-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--metrics-port', '0',
      '--backend', 'emulated', '--ticket-key-dir', keyDir, '--executor', testExecutor, '--log-level', 'error', '--close-grace-seconds', '2'],
    env: {},
  });
  const server = await startRemotingServer((r as { config: Config }).config, { logger: silentLogger });
  return {
    server,
    stop: async () => {
      await server.shutdown(2000);
      await rm(keyDir, { recursive: true, force: true });
    },
  };
}
