// Shared pieces of the operator scenarios: claim manifests, the Secret/ticket reader, a site map.
import { secretNameFor } from '@avec/api';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../harness/control-plane.js';
import type { GpuNodeFixture } from '../harness/gpu-nodes.js';
import { GIB } from '../harness/gpu-nodes.js';

/** Two sites, three GPU nodes: a1 in edge-a; b1, b2 in edge-b; 12 ms between the sites. */
export function edgeFleet(): GpuNodeFixture[] {
  const links = (home: string) => [
    { site: home, rttMs: 0.3, bandwidthMbps: 10_000, source: 'measured' as const },
    { site: home === 'edge-a' ? 'edge-b' : 'edge-a', rttMs: 12, bandwidthMbps: 1_000, source: 'measured' as const },
  ];
  const dev = (n: string, gib: number) => [{ uuid: `GPU-${n}`, model: 'NVIDIA H100 80GB HBM3', memoryBytes: gib * GIB, computeCapability: '9.0' }];
  return [
    { name: 'gpu-a1', site: 'edge-a', endpoint: '10.0.1.1:7400', devices: dev('a1', 80), links: links('edge-a') },
    { name: 'gpu-b1', site: 'edge-b', endpoint: '10.0.2.1:7400', devices: dev('b1', 40), links: links('edge-b') },
    { name: 'gpu-b2', site: 'edge-b', endpoint: '10.0.2.2:7400', devices: dev('b2', 40), links: links('edge-b') },
  ];
}

export function claimYaml(name: string, namespace: string, spec: string): string {
  return `apiVersion: avec.dev/v1alpha1
kind: VirtualGPUClaim
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
${spec.trim().split('\n').map((l) => `  ${l}`).join('\n')}
`;
}

export interface ClaimSecret {
  endpoint: string;
  ticket: string;
  claim: string;
  payload: Record<string, unknown>;
}

/** Reads avec-claim-<claim> and checks its ticket's MAC against the chart's key (docs/tickets.md). */
export async function readClaimSecret(cp: ControlPlane, namespace: string, claim: string, ticketKeyDir: string): Promise<ClaimSecret> {
  const { stdout } = await cp.kubectl(['get', 'secret', secretNameFor(claim), '-n', namespace, '-o', 'json']);
  const data = JSON.parse(stdout).data as Record<string, string>;
  const dec = (k: string) => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
  const ticket = dec('ticket');
  const [prefix, body, mac] = ticket.split('.');
  if (prefix !== 'avec1' || !body || !mac) throw new Error(`malformed ticket ${ticket}`);
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  const key = readFileSync(join(ticketKeyDir, String(payload.kid)));
  const want = createHmac('sha256', key).update(`avec1.${body}`).digest('base64url');
  if (want !== mac) throw new Error(`ticket MAC does not verify with key ${String(payload.kid)}`);
  return { endpoint: dec('endpoint'), ticket, claim: dec('claim'), payload };
}

export function condition(obj: { status?: { conditions?: Array<Record<string, unknown>> } }, type: string): Record<string, unknown> | undefined {
  return obj.status?.conditions?.find((c) => c.type === type);
}
