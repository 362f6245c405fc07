// What this node has, as the executor reports it (`avec-executor --describe`, JSON on stdout).
import { execFile } from 'node:child_process';
import { z } from 'zod';
import { AvecError } from '@avec/common';

export interface ObservedDevice {
  ordinal: number;
  uuid: string;
  model: string;
  memoryBytes: number;
  computeCapability: string; // "major.minor"
  emulated: boolean;
}

export interface ObservedInventory {
  backend: 'cuda' | 'emulated';
  driverVersion: number;
  devices: ObservedDevice[];
}

const num = z.number().nonnegative();
// Accepts the executor's snake_case keys; the alternatives keep this tolerant of small renames.
const describeDeviceSchema = z
  .object({
    ordinal: z.number().int().nonnegative().optional(),
    index: z.number().int().nonnegative().optional(),
    uuid: z.string().min(1),
    name: z.string().optional(),
    model: z.string().optional(),
    total_mem: num.optional(),
    memory_bytes: num.optional(),
    total_memory: num.optional(),
    cc_major: z.number().int().nonnegative().optional(),
    cc_minor: z.number().int().nonnegative().optional(),
    compute_capability: z.string().regex(/^\d+\.\d+$/).optional(),
    emulated: z.union([z.boolean(), z.number()]).optional(),
  })
  .loose();

const describeSchema = z
  .object({
    backend: z.enum(['cuda', 'emulated']),
    driver_version: z.number().int().nonnegative().optional(),
    emulated: z.union([z.boolean(), z.number()]).optional(),
    devices: z.array(describeDeviceSchema).max(64),
  })
  .loose();

export function parseDescribe(json: unknown): ObservedInventory {
  const r = describeSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new AvecError('BadDescribe', `executor --describe output: ${i ? `${i.path.join('.')}: ${i.message}` : 'invalid'}`);
  }
  const d = r.data;
  return {
    backend: d.backend,
    driverVersion: d.driver_version ?? 0,
    devices: d.devices.map((x, i) => {
      const memoryBytes = x.total_mem ?? x.memory_bytes ?? x.total_memory;
      if (memoryBytes === undefined) throw new AvecError('BadDescribe', `executor --describe: device ${i} has no memory size`);
      const cc = x.compute_capability ?? (x.cc_major !== undefined ? `${x.cc_major}.${x.cc_minor ?? 0}` : undefined);
      if (cc === undefined) throw new AvecError('BadDescribe', `executor --describe: device ${i} has no compute capability`);
      return {
        ordinal: x.ordinal ?? x.index ?? i,
        uuid: x.uuid,
        model: x.model ?? x.name ?? '',
        memoryBytes,
        computeCapability: cc,
        emulated: Boolean(x.emulated ?? d.emulated ?? d.backend === 'emulated'),
      };
    }),
  };
}

export type RunFn = (cmd: string, args: string[]) => Promise<string>;

const runFile: RunFn = (cmd, args) =>
  new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new AvecError('DescribeFailed', `${cmd} ${args.join(' ')}: ${err.message}${stderr ? `: ${String(stderr).trim().slice(0, 500)}` : ''}`));
      else resolve(String(stdout));
    });
  });

/** Runs `executor --describe --backend B` off the event loop and parses its JSON. */
export async function describeDevices(executor: string, backend: string, run: RunFn = runFile): Promise<ObservedInventory> {
  const out = await run(executor, ['--describe', '--backend', backend]);
  let json: unknown;
  try {
    json = JSON.parse(out.trim().split('\n').at(-1) ?? '');
  } catch {
    throw new AvecError('BadDescribe', `executor --describe printed no JSON: ${out.slice(0, 200)}`);
  }
  return parseDescribe(json);
}
