// Benchmark (not a test): session setup latency, connect -> HELLO reply, through the remoting server
// (addon peek + ticket check + executor spawn) versus the executor's own --listen mode (fork per
// connection), on loopback with the emulated backend. Prints one JSON object.
//   node remoting-server/dist/bench/session-setup.js [--sessions N]
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config.js';
import { silentLogger } from '@avec/common';
import { CHECKOUT_ROOT } from '../native/addon.js';
import { startRemotingServer } from '../server.js';
import { signTicket } from '@avec/tickets';
import { connectTcp, decodeHelloReply, encodeFrameHeader, encodeHello, FrameReader, OP_GOODBYE } from '../wire/hello-client.js';

const executor = process.env.AVEC_EXECUTOR ?? resolve(CHECKOUT_ROOT, 'build', 'native', 'avec-executor');

async function setupOnce(port: number, ticket: string): Promise<number> {
  const t0 = performance.now();
  const s = await connectTcp('127.0.0.1', port);
  const r = new FrameReader(s);
  s.write(encodeHello({ ticket }));
  const f = await r.next();
  const dt = performance.now() - t0;
  if (!f || decodeHelloReply(f).status !== 0) throw new Error(`HELLO failed: ${f ? decodeHelloReply(f).status : 'closed'}`);
  s.end(encodeFrameHeader({ opcode: OP_GOODBYE, flags: 0, requestId: 0, ctx: 0, payloadLength: 0 }));
  await r.closed();
  return dt;
}

function summary(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 100) / 100;
  return { n: s.length, p50_ms: q(0.5), p90_ms: q(0.9), max_ms: q(1) };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return p;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sessions: { type: 'string', default: '50' } } });
  const n = Number(values.sessions);
  const key = Buffer.alloc(32, 9);
  const dir = await mkdtemp(join(tmpdir(), 'avec-bench-'));
  await writeFile(join(dir, 'k1'), key);
  const now = Math.floor(Date.now() / 1000);
  const ticket = signTicket({ v: 1, kid: 'k1', uid: 'u', ns: 'bench', claim: 'setup', node: 'bench-node', dev: '', mem: 1 << 30, cpct: 100, iat: now, exp: now + 3600 }, key);

  const cfg = loadConfig({
    argv: ['--node-name', 'bench-node', '--kube', 'off', '--data-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--metrics-port', '0', '--backend', 'emulated',
      '--ticket-key-dir', dir, '--executor', executor, '--log-level', 'error', '--max-sessions-per-claim', '1000'],
    env: {},
  }) as { config: Config };
  const server = await startRemotingServer(cfg.config, { logger: silentLogger });
  const viaServer: number[] = [];
  for (let i = 0; i < n; i++) viaServer.push(await setupOnce(server.dataPort, ticket));
  await server.shutdown(1000);

  const port = await freePort();
  const standalone = spawn(executor, ['--listen', `127.0.0.1:${port}`, '--backend', 'emulated', '--log-level', 'error'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await connectTcp('127.0.0.1', port).then((s) => (s.destroy(), true), () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const viaListen: number[] = [];
  for (let i = 0; i < n; i++) viaListen.push(await setupOnce(port, ticket));
  standalone.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ benchmark: 'session-setup (connect -> HELLO reply, emulated backend, loopback)', remoting_server: summary(viaServer), executor_listen: summary(viaListen) }, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
