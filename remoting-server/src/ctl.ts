#!/usr/bin/env node
// avec-ctl: a small command-line client of the remoting server's gRPC API, plus ticket signing for
// standalone GPU machines (no operator). Prints JSON.
import { VERSION } from './version.js';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { controlClient } from './control/control-client.js';
import { errorMessage } from '@avec/common';
import { loadKeyringDir, signTicket } from '@avec/tickets';

export const CTL_HELP = `avec-ctl: talk to an avec remoting server.

Usage: node remoting-server/dist/ctl.js COMMAND [flags]

Commands (flag --server HOST:PORT, default 127.0.0.1:7071; --token FILE for admin calls):
  devices                      ListDevices
  sessions [--claim NS/NAME] [--all]   ListSessions (--all: recently ended too)
  stats SESSION_ID             GetSessionStats
  close SESSION_ID [--grace S] CloseSession (admin)
  drain [--wait S] [--kill]    Drain (admin)
  health [--service NAME]      grpc.health.v1 Check
  open --ticket TICKET         OpenSession (reserve a session)
  ticket --key-dir DIR --node NODE --claim NS/NAME [--mem BYTES] [--cpct N] [--dev UUID] [--ttl S] [--kid KID]
                               sign a ticket with a key of DIR (default kid: "current" file, else the greatest)
Flags --help and --version print this help and the version.
`;

export async function runCtl(argv: string[], out: (s: string) => void, nowSeconds = () => Math.floor(Date.now() / 1000)): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string', default: '127.0.0.1:7071' },
      token: { type: 'string' },
      claim: { type: 'string' },
      all: { type: 'boolean' },
      grace: { type: 'string' },
      wait: { type: 'string' },
      kill: { type: 'boolean' },
      service: { type: 'string', default: '' },
      ticket: { type: 'string' },
      'key-dir': { type: 'string' },
      node: { type: 'string' },
      mem: { type: 'string', default: String(1 << 30) },
      cpct: { type: 'string', default: '100' },
      dev: { type: 'string', default: '' },
      ttl: { type: 'string', default: '86400' },
      kid: { type: 'string' },
      uid: { type: 'string' },
      help: { type: 'boolean' },
      version: { type: 'boolean' },
    },
  });
  const [cmd, arg] = positionals;
  if (values.version) {
    out(`avec-ctl ${VERSION}\n`);
    return 0;
  }
  if (values.help || !cmd) {
    out(CTL_HELP);
    return cmd || values.help ? 0 : 2;
  }
  if (cmd === 'ticket') {
    const dir = values['key-dir'];
    const [ns, name] = (values.claim ?? '').split('/');
    if (!dir || !values.node || !ns || !name) throw new Error('ticket needs --key-dir, --node and --claim NS/NAME');
    const ring = loadKeyringDir(dir, { invalid: 'skip' });
    let kid = values.kid;
    if (!kid) {
      try {
        kid = readFileSync(`${dir}/current`, 'utf8').trim();
      } catch {
        kid = ring.kids().at(-1);
      }
    }
    const key = kid ? ring.get(kid) : undefined;
    if (!kid || !key) throw new Error(`no usable key ${kid ?? ''} in ${dir}`);
    const now = nowSeconds();
    out(
      signTicket(
        { v: 1, kid, uid: values.uid ?? `standalone-${ns}-${name}`, ns, claim: name, node: values.node, dev: values.dev!, mem: Number(values.mem), cpct: Number(values.cpct), iat: now, exp: now + Number(values.ttl) },
        key,
      ) + '\n',
    );
    return 0;
  }
  const client = controlClient(values.server!);
  const md = new grpc.Metadata();
  if (values.token) md.set('authorization', `Bearer ${readFileSync(values.token, 'utf8').trim()}`);
  try {
    let res: unknown;
    switch (cmd) {
      case 'devices':
        res = await client.ListDevices({}, md);
        break;
      case 'sessions':
        res = await client.ListSessions({ claim: values.claim ?? '', include_ended: values.all ?? false }, md);
        break;
      case 'stats':
        res = await client.GetSessionStats({ session_id: arg ?? '' }, md);
        break;
      case 'close':
        res = await client.CloseSession({ session_id: arg ?? '', grace_seconds: Number(values.grace ?? 0) }, md);
        break;
      case 'drain':
        res = await client.Drain({ wait_seconds: Number(values.wait ?? 0), kill_after_wait: values.kill ?? false }, md);
        break;
      case 'health':
        res = await client.Check({ service: values.service }, md);
        break;
      case 'open':
        res = await client.OpenSession({ ticket: values.ticket ?? '' }, md);
        break;
      default:
        out(CTL_HELP);
        return 2;
    }
    out(JSON.stringify(res, null, 2) + '\n');
    return 0;
  } finally {
    client.close();
  }
}

if (process.argv[1]?.endsWith('/ctl.js')) {
  runCtl(process.argv.slice(2), (s) => process.stdout.write(s)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`avec-ctl: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
}
