// Links from this node to each site: TCP connect round-trip time to a per-site probe endpoint,
// declared values from config as the fallback. Measurement is I/O; choosing what to publish is pure.
import { connect } from 'node:net';
import type { LinkTarget } from '../config.js';
import { parseHostPort } from '../host-port.js';

export interface SiteLink {
  site: string;
  rttMs: number;
  bandwidthMbps?: number;
  source: 'measured' | 'declared';
  measuredTime?: string;
}

export type Measurement = { ok: true; rttMs: number } | { ok: false; error: string };

export interface ProbeOptions {
  attempts?: number;
  timeoutMs?: number;
  now?: () => number; // milliseconds, monotonic
}

/** One TCP handshake; resolves with the connect time in ms. */
function connectOnce(host: string, port: number, timeoutMs: number, now: () => number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      const dt = now() - t0;
      clearTimeout(timer);
      s.destroy();
      resolve(dt);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Median of `attempts` TCP connect times (a connect is one round trip: SYN, SYN-ACK). */
export async function measureRtt(endpoint: string, opts: ProbeOptions = {}): Promise<Measurement> {
  const { host, port } = parseHostPort(endpoint);
  const now = opts.now ?? (() => performance.now());
  const samples: number[] = [];
  let lastError = '';
  for (let i = 0; i < (opts.attempts ?? 3); i++) {
    try {
      samples.push(await connectOnce(host, port, opts.timeoutMs ?? 2000, now));
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
  }
  if (samples.length === 0) return { ok: false, error: lastError };
  samples.sort((a, b) => a - b);
  return { ok: true, rttMs: Math.round(samples[Math.floor(samples.length / 2)]! * 1000) / 1000 };
}

/** Pure: measured RTT where a probe worked, else the declared RTT, else no link for that site. */
export function resolveLinks(targets: LinkTarget[], measured: ReadonlyMap<string, Measurement>, now: Date): SiteLink[] {
  const out: SiteLink[] = [];
  for (const t of targets) {
    const m = measured.get(t.site);
    const bw = t.bandwidthMbps !== undefined ? { bandwidthMbps: t.bandwidthMbps } : {};
    if (m?.ok) {
      out.push({ site: t.site, rttMs: m.rttMs, ...bw, source: 'measured', measuredTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z') });
    } else if (t.rttMs !== undefined) {
      out.push({ site: t.site, rttMs: t.rttMs, ...bw, source: 'declared' });
    }
  }
  return out;
}

/** Measures every target that has a probe endpoint (sequentially: probes are tiny and rare). */
export async function measureLinks(targets: LinkTarget[], opts: ProbeOptions = {}): Promise<Map<string, Measurement>> {
  const out = new Map<string, Measurement>();
  for (const t of targets) if (t.probe) out.set(t.site, await measureRtt(t.probe, opts));
  return out;
}
