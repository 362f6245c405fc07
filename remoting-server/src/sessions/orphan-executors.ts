// Executors left running by a previous remoting-server process (it crashed or was killed outside a
// container, so its children were re-parented instead of killed). Each still serves its client, so it
// still counts against the node's and its claim's session caps: the server adopts them at start-up
// (found in /proc by the executor's path and its --session-id/--ipc-scope arguments) and counts them
// until they exit. In Kubernetes a restarted container takes its executors with it (one cgroup), so
// there is nothing to adopt there.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface OrphanExecutor {
  pid: number;
  sessionId: string;
  claimUid: string;
  memoryLimit: number;
  deviceOrdinal: number;
  computePercent: number;
}

/** The session an executor's command line describes (the arguments SessionManager.start passes), or undefined. */
export function parseExecutorArgs(argv: readonly string[], executor: string): Omit<OrphanExecutor, 'pid'> | undefined {
  if (argv.length === 0 || (argv[0] !== executor && basename(argv[0]!) !== basename(executor))) return undefined;
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i > 0 && i + 1 < argv.length ? argv[i + 1] : undefined;
  };
  const sessionId = arg('--session-id');
  const scope = arg('--ipc-scope');
  const memoryLimit = Number(arg('--memory-limit'));
  const deviceOrdinal = Number(arg('--device') ?? 0);
  const computePercent = Number(arg('--compute-percent') ?? 100);
  if (!sessionId || !/^[0-9]{1,20}$/.test(sessionId) || !scope?.startsWith('claim:') || scope.length <= 'claim:'.length) return undefined;
  if (!Number.isSafeInteger(memoryLimit) || memoryLimit <= 0 || !Number.isSafeInteger(deviceOrdinal) || deviceOrdinal < 0) return undefined;
  if (!Number.isInteger(computePercent) || computePercent < 1 || computePercent > 100) return undefined;
  return { sessionId, claimUid: scope.slice('claim:'.length), memoryLimit, deviceOrdinal, computePercent };
}

function readProc(procRoot: string, pid: string): { argv: string[]; ppid: number; comm: string } | undefined {
  try {
    const argv = readFileSync(join(procRoot, pid, 'cmdline'), 'utf8').split('\0').filter((s, i, a) => i < a.length - 1 || s !== '');
    const stat = readFileSync(join(procRoot, pid, 'stat'), 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    return { argv, ppid, comm };
  } catch {
    return undefined; // gone meanwhile, or not ours to read
  }
}

/**
 * Executors of `executor` whose server is gone: re-parented to init or to a subreaper that is not a
 * Node.js process (a live remoting server on the same host keeps its own executors as children).
 */
export function findOrphanExecutors(executor: string, procRoot = '/proc', selfPid = process.pid): OrphanExecutor[] {
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^[0-9]+$/.test(d));
  } catch {
    return [];
  }
  const out: OrphanExecutor[] = [];
  for (const pid of pids) {
    const p = readProc(procRoot, pid);
    if (!p) continue;
    const session = parseExecutorArgs(p.argv, executor);
    if (!session || p.ppid === selfPid) continue;
    const parent = p.ppid === 1 ? undefined : readProc(procRoot, String(p.ppid));
    if (parent && (parent.comm === 'node' || parent.argv.some((a) => /remoting-server/.test(a)))) continue;
    out.push({ pid: Number(pid), ...session });
  }
  return out;
}
