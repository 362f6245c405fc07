// "host:port" endpoints as used by flags and the Secret's `endpoint` key ("[v6]:port" for IPv6).
import { AvecError } from '@avec/common';

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(text: string, defaultHost = '0.0.0.0'): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new AvecError('BadEndpoint', `"${text}" is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new AvecError('BadEndpoint', `port ${port} in "${text}" is out of range`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? defaultHost : host, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
