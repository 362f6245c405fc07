// grpc.health.v1.Health: "" is the server as a whole, "avec.v1.Control" turns NOT_SERVING while draining.
import type * as grpc from '@grpc/grpc-js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN' | 'UNKNOWN';

export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<{ service: string; push: (s: ServingStatus) => void }>();

  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const w of this.watchers) if (w.service === service) w.push(status);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  watch(service: string, push: (s: ServingStatus) => void): () => void {
    const w = { service, push };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }
}

interface CheckRequest {
  service: string;
}

export function healthHandlers(state: HealthState): grpc.UntypedServiceImplementation {
  return {
    Check(call: grpc.ServerUnaryCall<CheckRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const s = state.get(call.request.service ?? '');
      if (s === undefined) {
        cb({ code: 5 /* NOT_FOUND */, details: `unknown service "${call.request.service}"` });
        return;
      }
      cb(null, { status: s });
    },
    Watch(call: grpc.ServerWritableStream<CheckRequest, unknown>) {
      const service = call.request.service ?? '';
      call.write({ status: state.get(service) ?? 'SERVICE_UNKNOWN' });
      const stop = state.watch(service, (status) => call.write({ status }));
      call.on('cancelled', stop);
      call.on('close', stop);
    },
  };
}
