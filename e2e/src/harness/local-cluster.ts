// The whole system on this machine, as `make demo` and `make cluster-up` run it: a real control plane,
// avec installed with helm, the operator and one remoting server (real GPU if present, else the
// emulated device) as processes, and the GPUNode Ready. `step` narrates.
import { hostname } from 'node:os';
import { isStatus } from '@avec/kube';
import { installAvec, type AvecInstall } from './avec-install.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { nodeObject } from './gpu-nodes.js';
import { startOperator, type OperatorProcess } from './operator-process.js';
import { startRemotingServer, type RemotingServerProcess } from './remoting-server-process.js';
import { waitFor } from './wait.js';

export const LOCAL_SITE = 'edge-demo';
export const LOCAL_NODE = `gpu-${hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}`;

export interface LocalCluster {
  cp: ControlPlane;
  inst: AvecInstall;
  op: OperatorProcess;
  rs: RemotingServerProcess;
  stop(): Promise<void>;
}

export async function startLocalCluster(o: { name: string; keepDir?: boolean; step: (msg: string) => void; show?: (text: string) => void }): Promise<LocalCluster> {
  const show = o.show ?? (() => {});
  o.step('control plane: starting etcd and kube-apiserver (built from their Go modules) on loopback');
  const cp = await startControlPlane({ name: o.name, keepDir: o.keepDir });
  const version = JSON.parse((await cp.kubectl(['version', '-o', 'json'])).stdout).serverVersion.gitVersion;
  o.step(`control plane: kube-apiserver ${version} ready at ${cp.server}, CRDs virtualgpuclaims.avec.dev and gpunodes.avec.dev established`);

  o.step('helm install avec charts/avec (RBAC, webhook, ticket keys; the operator runs here as a process)');
  const inst = await installAvec(cp);
  show((await cp.helm(['list', '-n', inst.namespace])).stdout);

  o.step(`operator: starting as ServiceAccount ${inst.namespace}/${inst.operatorServiceAccount} (leader election on)`);
  const op = await startOperator(cp, inst, { identity: `${o.name}-operator`, webhookPort: inst.webhookPort, heartbeatTimeoutSeconds: 30 });

  o.step(`remoting server: starting as GPU node ${LOCAL_NODE} in site ${LOCAL_SITE} (--backend auto: real GPU if present, else emulated)`);
  const rest = cp.rest();
  await rest.nodes.create(nodeObject(LOCAL_NODE, LOCAL_SITE, { 'avec.dev/gpu': 'true' }));
  const rsKubeconfig = await cp.serviceAccountKubeconfig(inst.namespace, `${inst.release}-remoting-server`);
  const rs = await startRemotingServer(cp, { nodeName: LOCAL_NODE, site: LOCAL_SITE, kubeconfig: rsKubeconfig, ticketKeyDir: inst.ticketKeyDir });
  await waitFor(async () => {
    const gn = (await rest.gpuNodes.get(LOCAL_NODE).catch((e) => (isStatus(e, 404) ? undefined : Promise.reject(e)))) as
      | { status?: { conditions?: Array<{ type: string; status: string }> } }
      | undefined;
    return gn?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? gn : undefined;
  }, { what: `GPUNode ${LOCAL_NODE} Ready`, timeoutMs: 60_000 });
  o.step(`remoting server: published GPUNode ${LOCAL_NODE}; the operator marked it Ready`);
  show((await cp.kubectl(['get', 'gpunodes', '-o', 'wide'])).stdout);
  return {
    cp, inst, op, rs,
    async stop() {
      await rs.stop();
      await op.stop();
      await cp.stop();
    },
  };
}
