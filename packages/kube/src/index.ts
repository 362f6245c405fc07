// @avec/kube: thin helpers over @kubernetes/client-node shared by operator, remoting-server and e2e:
// loading a KubeConfig, the typed resources avec uses behind one interface, watches as promises,
// paginated lists, and one error type.
export { KubeError, KubeconfigError, isStatus, statusOf, toKubeError } from './errors.js';
export { PooledKubeConfig, SERVICE_ACCOUNT_DIR, findKubeConfig, inClusterKubeConfig, loadKubeConfig, readKubeconfig } from './config.js';
export {
  PatchStrategy,
  type KubeApi,
  type KubeObject,
  type ListOptions,
  type ObjectList,
  type PatchType,
  type RequestObserver,
  type Resource,
} from './resources.js';
export { watchPath, type WatchEventType, type WatchOptions } from './watch.js';
export { listAll } from './list.js';
export { CLAIM_KIND, GPUNODE_KIND, KubeClient } from './client.js';
export { KubeConfig } from '@kubernetes/client-node';
