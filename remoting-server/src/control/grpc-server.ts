// The gRPC server: avec.v1.Control + grpc.health.v1.Health, protos loaded from remoting-server/proto.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatHostPort, type HostPort } from '../host-port.js';
import { CONTROL_SERVICE, controlHandlers, type ControlDeps } from './control-service.js';
import { healthHandlers } from './health-service.js';

/** remoting-server/dist/control -> remoting-server/proto */
export const PROTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] };

export function loadProtos(): grpc.GrpcObject {
  const def = protoLoader.loadSync(['avec/v1/control.proto', 'grpc/health/v1/health.proto'], LOADER_OPTIONS);
  return grpc.loadPackageDefinition(def);
}

type ServiceCtor = grpc.ServiceClientConstructor;

export function serviceOf(pkg: grpc.GrpcObject, path: string): ServiceCtor {
  let o: unknown = pkg;
  for (const p of path.split('.')) o = (o as Record<string, unknown>)[p];
  return o as ServiceCtor;
}

export async function startGrpcServer(listen: HostPort, deps: ControlDeps): Promise<{ server: grpc.Server; port: number }> {
  const pkg = loadProtos();
  const server = new grpc.Server();
  server.addService(serviceOf(pkg, CONTROL_SERVICE).service, controlHandlers(deps));
  server.addService(serviceOf(pkg, 'grpc.health.v1.Health').service, healthHandlers(deps.health));
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync(formatHostPort(listen), grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
  deps.health.set('', 'SERVING');
  deps.health.set(CONTROL_SERVICE, deps.sessions.draining ? 'NOT_SERVING' : 'SERVING');
  return { server, port };
}

export function stopGrpcServer(server: grpc.Server): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      res();
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(t);
      res();
    });
  });
}
