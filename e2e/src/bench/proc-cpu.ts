// CPU time of processes and of the whole machine, from /proc (Linux): where a benchmark's CPU went.
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU times in these ticks (100 on every Linux the harness runs on). */
const TICKS_PER_SECOND = 100;

/** user + system CPU seconds of `pid` so far (NaN when it cannot be read). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Busy and total CPU seconds of the machine so far (all CPUs; idle and iowait count as not busy). */
export function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (line[3] ?? 0) + (line[4] ?? 0);
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

export interface CpuSnapshot {
  at: number;
  machine: { busy: number; total: number };
  procs: Record<string, number>;
}

export function cpuSnapshot(pids: Record<string, number | undefined>, now = Date.now()): CpuSnapshot {
  return { at: now, machine: machineCpuSeconds(), procs: Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, processCpuSeconds(p)])) };
}

/** Per process: CPU ms per unit of work between two snapshots; and the machine's busy share. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, units: number): { perUnitMs: Record<string, number>; machineBusy: number; seconds: number } {
  const perUnitMs: Record<string, number> = {};
  for (const k of Object.keys(a.procs)) perUnitMs[k] = ((b.procs[k]! - a.procs[k]!) * 1000) / Math.max(1, units);
  const total = b.machine.total - a.machine.total;
  return { perUnitMs, machineBusy: total > 0 ? (b.machine.busy - a.machine.busy) / total : NaN, seconds: (b.at - a.at) / 1000 };
}
