// The real entry point as a process: standalone start (no API server), /metrics and /readyz over HTTP,
// and a clean exit on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CHECKOUT_ROOT } from './native/addon.js';

const mainJs = join(dirname(fileURLToPath(import.meta.url)), 'main.js');
const executor = process.env.AVEC_EXECUTOR ?? resolve(CHECKOUT_ROOT, 'build', 'native', 'avec-executor');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('main: --help exits 0 and lists the flags; a bad flag exits 2', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((res) => {
      const p = spawn(process.execPath, [mainJs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('close', (code) => res({ code, out }));
    });
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /--data-listen HOST:PORT/);
  const bad = await run(['--backend', 'quantum']);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /backend/);
});

test('main: standalone server starts, serves /metrics and /readyz, drains and exits 0 on SIGTERM', async () => {
  assert.ok(existsSync(executor), `executor ${executor} is missing: build it with make native`);
  const keys = await mkdtemp(join(tmpdir(), 'avec-main-keys-'));
  const metricsPort = await freePort();
  const p = spawn(process.execPath, [mainJs, '--kube', 'off', '--node-name', 'gpu-main', '--data-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0',
    '--metrics-port', String(metricsPort), '--backend', 'emulated', '--executor', executor, '--ticket-key-dir', keys, '--drain-seconds', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: '' },
  });
  try {
    let log = '';
    p.stderr.setEncoding('utf8');
    await new Promise<void>((res, rej) => {
      p.stderr.on('data', (d: string) => {
        log += d;
        if (log.includes('"remoting server ready"')) res();
      });
      p.once('exit', (code) => rej(new Error(`exited ${code}: ${log}`)));
    });
    const ready = JSON.parse(log.split('\n').find((l) => l.includes('"remoting server ready"'))!) as { endpoint: string; data: { port: number } };
    assert.ok(ready.data.port > 0);
    assert.match(log, /no ticket keys loaded/);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /avec_sessions_total 0/);
    assert.match(metrics, /avec_remoting_server_process_cpu_seconds_total/);
    assert.match(metrics, /avec_remoting_server_build_info\{version="\d+\.\d+\.\d+"\} 1/);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
    const exited = new Promise<number | null>((res) => p.once('exit', (code) => res(code)));
    p.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(log, /"sessions drained"/);
  } finally {
    p.kill('SIGKILL');
    await rm(keys, { recursive: true, force: true });
  }
});
