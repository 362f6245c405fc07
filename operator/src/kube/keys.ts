// Work-queue keys: "namespace/name" for namespaced objects, "name" for cluster-scoped ones.
export const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('/');
  return i < 0 ? ['', key] : [key.slice(0, i), key.slice(i + 1)];
};
