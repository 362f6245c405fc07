// Promise-returning gRPC clients of avec.v1.Control and grpc.health.v1 (avec-ctl, tests).
import * as grpc from '@grpc/grpc-js';
import { loadProtos, serviceOf } from './grpc-server.js';

export type Unary = (req: Record<string, unknown>, metadata?: grpc.Metadata) => Promise<Record<string, unknown>>;

export interface ControlClient {
  OpenSession: Unary;
  CloseSession: Unary;
  ListDevices: Unary;
  ListSessions: Unary;
  GetSessionStats: Unary;
  Drain: Unary;
  Check: Unary;
  close(): void;
}

export function controlClient(target: string): ControlClient {
  const pkg = loadProtos();
  const creds = grpc.credentials.createInsecure();
  const control = new (serviceOf(pkg, 'avec.v1.Control'))(target, creds);
  const health = new (serviceOf(pkg, 'grpc.health.v1.Health'))(target, creds);
  const wrap =
    (c: grpc.Client, name: string): Unary =>
    (req, md = new grpc.Metadata()) =>
      new Promise((res, rej) =>
        (c as unknown as Record<string, (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, v: Record<string, unknown>) => void) => void>)[name]!(req, md, (e, v) =>
          e ? rej(e) : res(v),
        ),
      );
  const out: Record<string, unknown> = {};
  for (const m of ['OpenSession', 'CloseSession', 'ListDevices', 'ListSessions', 'GetSessionStats', 'Drain']) out[m] = wrap(control, m);
  out.Check = wrap(health, 'Check');
  out.close = () => {
    control.close();
    health.close();
  };
  return out as unknown as ControlClient;
}
