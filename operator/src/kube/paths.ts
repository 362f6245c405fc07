// REST paths of the objects the operator reads and writes.
export const AVEC = '/apis/avec.dev/v1alpha1';
export const claimsPath = (): string => `${AVEC}/virtualgpuclaims`;
export const claimPath = (ns: string, name: string): string => `${AVEC}/namespaces/${ns}/virtualgpuclaims/${name}`;
export const claimsInNsPath = (ns: string): string => `${AVEC}/namespaces/${ns}/virtualgpuclaims`;
export const gpuNodesPath = (): string => `${AVEC}/gpunodes`;
export const gpuNodePath = (name: string): string => `${AVEC}/gpunodes/${name}`;
export const podsPath = (): string => '/api/v1/pods';
export const podPath = (ns: string, name: string): string => `/api/v1/namespaces/${ns}/pods/${name}`;
export const secretsPath = (ns: string): string => `/api/v1/namespaces/${ns}/secrets`;
export const secretPath = (ns: string, name: string): string => `/api/v1/namespaces/${ns}/secrets/${name}`;
export const eventsPath = (ns: string): string => `/api/v1/namespaces/${ns}/events`;
export const mutatingWebhookPath = (name: string): string => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`;
export const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('/');
  return i < 0 ? ['', key] : [key.slice(0, i), key.slice(i + 1)];
};
