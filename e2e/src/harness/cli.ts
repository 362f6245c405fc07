// Runs a command-line tool (kubectl, helm, ...) and captures its result; never throws on a
// non-zero exit unless asked to, because tests assert on refusals too.
import { spawn } from 'node:child_process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Throw (with stderr in the message) when the exit code is not 0. Default true. */
  check?: boolean;
  timeoutMs?: number;
}

export function runCli(command: string, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const check = opts.check ?? true;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (check && res.code !== 0) {
        const name = command.split('/').pop();
        reject(new Error(`${name} ${args.join(' ')} exited ${res.code}: ${stderr.trim() || stdout.trim()}`));
      } else {
        resolve(res);
      }
    });
    // A tool that exits without reading its input closes the pipe: EPIPE there is not a failure of the
    // test (the exit code and output say what happened), and unhandled it would fail the whole file.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
