// Teardown semantics, and the harness leaving nothing behind when its process gets SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { onTeardown, runAll } from './cleanup.js';
import { REPO_ROOT } from './repo-root.js';
import { sleep } from './wait.js';

describe('teardown registry', () => {
  it('runs each teardown once, newest first; an explicit run() during runAll() is shared, not repeated', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = onTeardown('a', () => { order.push('a'); });
    onTeardown('b', async () => { order.push('b'); await gate; order.push('b-done'); });
    const all = runAll();
    await sleep(10);
    let stopped = false;
    const stop = a.run().then(() => (stopped = true));
    await sleep(10);
    release();
    await all;
    await stop;
    assert.equal(stopped, true);
    assert.deepEqual(order, ['b', 'a', 'b-done'], 'b started first (newest); a ran once, when asked');
    await a.run();
    assert.deepEqual(order, ['b', 'a', 'b-done'], 'not run twice');
  });

  it('never runs a cancelled teardown', async () => {
    let ran = false;
    onTeardown('c', () => { ran = true; }).cancel();
    await runAll();
    assert.equal(ran, false);
  });

  it('removes the control plane (processes and temp dir) when the test process gets SIGTERM', async () => {
    const script = `
      const { startControlPlane } = await import(${JSON.stringify(join(REPO_ROOT, 'e2e', 'dist', 'harness', 'control-plane.js'))});
      const cp = await startControlPlane({ installCrds: false });
      console.log(JSON.stringify({ dir: cp.dir, pids: [cp.etcd.process.pid, cp.apiServer.process.pid] }));
      // Like a benchmark that is still working when the signal comes, and then calls stop() itself.
      process.on('SIGTERM', () => setTimeout(async () => { await cp.stop(); process.exit(3); }, 10));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const info = await new Promise<{ dir: string; pids: number[] }>((resolve, reject) => {
      child.stdout.on('data', () => { if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0])); });
      child.on('exit', (code) => reject(new Error(`exited ${code} before starting`)));
    });
    assert.ok(existsSync(info.dir));
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    for (const pid of info.pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `process ${pid} left running`);
    assert.equal(existsSync(info.dir), false, `${info.dir} left behind`);
  });
});
