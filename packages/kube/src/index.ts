// @avec/kube: the Kubernetes REST client and kubeconfig loader shared by operator, remoting-server and e2e.
export { KubeError, KubeconfigError, isStatus, statusOf } from './errors.js';
export {
  SERVICE_ACCOUNT_DIR,
  findConnection,
  inClusterConnection,
  loadConnection,
  parseKubeconfig,
  readKubeconfig,
  type Connection,
} from './kubeconfig.js';
export {
  APPLY_PATCH,
  JSON_PATCH,
  KubeClient,
  MERGE_PATCH,
  STRATEGIC_MERGE_PATCH,
  WATCH_IDLE_MS,
  type KubeApi,
  type KubeClientOptions,
  type RequestObserver,
  type WatchEventType,
} from './client.js';
