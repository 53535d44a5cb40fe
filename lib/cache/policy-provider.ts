import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { describeError } from '../errors';
import type { ParseOptions } from '../policy/compile/documents';
import { parsePolicyFiles, type PolicySet } from '../policy/policy-set';
import { formatProblem, PolicyLoadError } from '../policy/problems';
import type { PolicyLoadEvents, PolicyObject, PolicyProvider, PolicyStore } from '../ports';

interface ClusterState {
  set: PolicySet;
  checkedAt: number;
  /** Version of the last listing, valid or not, so an unchanged broken upload is not re-parsed. */
  seenVersion: string;
  /** Characters of policy text the set was parsed from (its size in the cache). */
  textLength: number;
}

/**
 * Most clusters whose policy sets are kept. Cluster names come from the request URL; with cluster
 * tokens only authenticated clusters get here, without them any name does. An evicted cluster is
 * loaded again on its next review (and has no last good set to fall back on meanwhile).
 */
export const MAX_CACHED_CLUSTERS = 1_000;
/** Most policy text (UTF-16 bytes) behind the kept policy sets, all clusters together. */
export const MAX_CACHED_CLUSTER_POLICY_BYTES = 64 * 1024 * 1024;
/** Most policy object texts kept (to re-read only objects whose etag changed). */
export const MAX_CACHED_POLICY_TEXTS = 10_000;
/** Most bytes of kept policy object texts (UTF-16). */
export const MAX_CACHED_POLICY_TEXT_BYTES = 32 * 1024 * 1024;

/**
 * The policy set of each cluster, loaded on first use and re-checked every `refreshMs`. A
 * refresh lists the store (one cheap request per prefix) and reads only objects whose etag
 * changed. A refresh that fails — a policy that does not load, or a store that cannot be read —
 * keeps the cluster's last good set; with no good set yet, `current` throws and the webhook
 * fails closed.
 */
export class RefreshingPolicyProvider implements PolicyProvider {
  private readonly texts = new LRUCache<string, { etag: string; text: string }>({
    max: MAX_CACHED_POLICY_TEXTS,
    maxSize: MAX_CACHED_POLICY_TEXT_BYTES,
    sizeCalculation: ({ etag, text }, key) => 2 * (key.length + etag.length + text.length) + 1,
  });
  private readonly clusters = new LRUCache<string, ClusterState>({
    max: MAX_CACHED_CLUSTERS,
    maxSize: MAX_CACHED_CLUSTER_POLICY_BYTES,
    sizeCalculation: (state, id) => 2 * (id.length + state.textLength) + 1,
  });
  /** Loads in flight, one per cluster: bounded by the reviews waiting for them. */
  private readonly refreshing = new Map<string, Promise<PolicySet>>();

  constructor(
    private readonly store: PolicyStore,
    private readonly options: {
      refreshMs: number;
      now?: () => number;
      events?: PolicyLoadEvents;
      /** How policies are read (the trust roots `rekor.url` must name). */
      parseOptions?: () => Promise<ParseOptions>;
    },
  ) {}

  current(cluster?: string): Promise<PolicySet> {
    const id = cluster ?? '';
    const state = this.clusters.get(id);
    if (state && this.now() - state.checkedAt < this.options.refreshMs) return Promise.resolve(state.set);
    let pending = this.refreshing.get(id);
    if (!pending) {
      pending = this.refresh(cluster, state).finally(() => this.refreshing.delete(id));
      this.refreshing.set(id, pending);
    }
    return pending;
  }

  private async refresh(cluster: string | undefined, state: ClusterState | undefined): Promise<PolicySet> {
    const id = cluster ?? '';
    let version: string | undefined;
    try {
      const objects = await this.store.list(cluster);
      version = policySetVersion(objects);
      if (state && version === state.seenVersion) {
        state.checkedAt = this.now();
        return state.set;
      }
      const files = await Promise.all(
        objects.map(async (object) => ({ name: object.key, text: await this.text(object) })),
      );
      const { policies, problems } = parsePolicyFiles(files, await this.options.parseOptions?.());
      if (problems.length > 0) throw new PolicyLoadError(problems);
      const set: PolicySet = { policies, version };
      const textLength = files.reduce((sum, file) => sum + file.name.length + file.text.length, 0);
      this.clusters.set(id, { set, checkedAt: this.now(), seenVersion: version, textLength });
      this.options.events?.loaded({ cluster, version, policies: policies.length, objects: objects.length });
      return set;
    } catch (error) {
      this.options.events?.failed({
        cluster,
        error: describeError(error),
        problems: error instanceof PolicyLoadError ? error.problems.map(formatProblem) : [],
        kept: state?.set.version,
      });
      if (!state) throw error;
      state.checkedAt = this.now();
      if (version !== undefined) state.seenVersion = version;
      return state.set;
    }
  }

  /** Clusters whose policy sets are kept now. */
  get cachedClusters(): number {
    return this.clusters.size;
  }

  private async text(object: PolicyObject): Promise<string> {
    const cached = this.texts.get(object.key);
    if (cached?.etag === object.etag) return cached.text;
    const text = await this.store.read(object);
    this.texts.set(object.key, { etag: object.etag, text });
    return text;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** sha256 over every object's key and etag: changes exactly when an object is added, removed or changed. */
export function policySetVersion(objects: readonly PolicyObject[]): string {
  const hash = createHash('sha256');
  for (const object of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    hash.update(object.key).update('\0').update(object.etag).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
