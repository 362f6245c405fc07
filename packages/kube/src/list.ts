// Paginated lists: large collections (10,000 claims) come in pages of `limit`, joined here, with the
// resourceVersion of the first page (the snapshot the continue tokens belong to) to watch from.
import type { KubeObject, ListOptions, ObjectList, Resource } from './resources.js';

export async function listAll<T extends KubeObject>(r: Pick<Resource<T>, 'list'>, opts: Omit<ListOptions, 'continue'> = {}, ns?: string): Promise<ObjectList<T>> {
  const limit = opts.limit ?? 500;
  const items: T[] = [];
  let resourceVersion: string | undefined;
  let token: string | undefined;
  do {
    const page = await r.list({ ...opts, limit, continue: token }, ns);
    resourceVersion ??= page.metadata?.resourceVersion;
    items.push(...page.items);
    token = page.metadata?.continue || undefined;
  } while (token);
  return { metadata: { resourceVersion }, items };
}
