import { createHash } from 'node:crypto';
import { describeError } from '../errors';
import type { ParseOptions } from './parse';
import { parsePolicyFiles, type PolicyProvider, type PolicySet } from './policy-set';
import { formatProblem, PolicyLoadError } from './problems';
import type { PolicyObject, PolicyStore } from './store';

/** What the provider reports about loads, for logs and metrics. */
export interface PolicyLoadEvents {
  loaded(details: { cluster: string | undefined; version: string; policies: number; objects: number }): void;
  /** A load failed; `kept` is the version still in force, if any. */
  failed(details: {
    cluster: string | undefined;
    error: string;
    problems: string[];
    kept: string | undefined;
  }): void;
}

interface ClusterState {
  set: PolicySet;
  checkedAt: number;
  /** Version of the last listing, valid or not, so an unchanged broken upload is not re-parsed. */
  seenVersion: string;
}

/**
 * The policy set of each cluster, loaded on first use and re-checked every `refreshMs`. A
 * refresh lists the store (one cheap request per prefix) and reads only objects whose etag
 * changed. A refresh that fails — a policy that does not load, or a store that cannot be read —
 * keeps the cluster's last good set; with no good set yet, `current` throws and the webhook
 * fails closed.
 */
export class RefreshingPolicyProvider implements PolicyProvider {
  private readonly texts = new Map<string, { etag: string; text: string }>();
  private readonly clusters = new Map<string, ClusterState>();
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
      this.clusters.set(id, { set, checkedAt: this.now(), seenVersion: version });
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
