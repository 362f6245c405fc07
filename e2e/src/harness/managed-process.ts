// A child process owned by the harness: output goes to a log file, it dies with us (parent-death
// signal where setpriv exists), and stop() escalates from SIGTERM to SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { onTeardown, type TeardownHandle } from './cleanup.js';
import { log } from './log.js';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly teardown: TeardownHandle;

  constructor(spec: ProcessSpec) {
    this.name = spec.name;
    this.logFile = spec.logFile;
    const out = createWriteStream(spec.logFile, { flags: 'a' });
    const [cmd, args] = SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', spec.command, ...spec.args]]
      : [spec.command, spec.args];
    this.child = spawn(cmd, args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.pipe(out, { end: false });
    this.child.stderr?.pipe(out, { end: false });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        log('debug', 'process exited', { name: this.name, code, signal });
        // Let the pipes drain before closing the log file.
        setImmediate(() => out.end());
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        out.write(`spawn error: ${err.message}\n`);
        this.exitInfo = { code: -1, signal: null };
        resolve(this.exitInfo);
      });
    });
    log('debug', 'process started', { name: this.name, pid: this.child.pid, command: spec.command, args: spec.args });
    this.teardown = onTeardown(`process ${spec.name}`, () => this.kill(), () => {
      if (!this.exitInfo) this.child.kill('SIGKILL');
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitInfo;
  }

  waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }

  /** The last `n` lines of the process's log, for error messages. */
  tail(n = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.kill(graceMs);
    await this.teardown.run();
  }

  private async kill(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
