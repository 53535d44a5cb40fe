import { LRUCache } from 'lru-cache';

/** A verdict worth remembering: trusted, or not trusted. "Could not check" is never cached. */
export type CachedVerdict =
  { readonly status: 'pass' } | { readonly status: 'fail'; readonly reason: string };

export interface VerificationCacheOptions {
  /** Most verdicts kept; the least recently used go first. */
  readonly maxEntries: number;
  /** How long a pass is trusted. */
  readonly passTtlMs: number;
  /** How long a failure is remembered (briefly: a signature may be pushed right after). */
  readonly failTtlMs: number;
}

/** Counters for the benchmark and the metrics. */
export interface VerificationStats {
  hits: number;
  misses: number;
  /** Times attestors were actually evaluated against fetched signatures. */
  verifications: number;
}

/**
 * Verdicts by policy-set version + attestor entry + image digest — never by tag — with single
 * flight: concurrent requests for the same key (in one review or across concurrent reviews of
 * this instance) share one verification.
 */
export class VerificationCache {
  readonly stats: VerificationStats = { hits: 0, misses: 0, verifications: 0 };
  private readonly verdicts: LRUCache<string, CachedVerdict>;
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly options: VerificationCacheOptions) {
    this.verdicts = new LRUCache({ max: options.maxEntries, ttl: options.passTtlMs, ttlAutopurge: false });
  }

  /** The cache key; a digest, never a tag, identifies the image. */
  static key(parts: { policySetVersion: string; attestor: string; digest: string }): string {
    return `${parts.policySetVersion}\u0000${parts.attestor}\u0000${parts.digest}`;
  }

  get(key: string): CachedVerdict | undefined {
    const verdict = this.verdicts.get(key);
    if (verdict) this.stats.hits++;
    return verdict;
  }

  /**
   * Runs `verify` once for all concurrent callers of `key`. Its verdict is cached when it is a
   * pass or a fail (`cacheable`); anything else (could not check) is returned but not kept.
   */
  async shared<T>(
    key: string,
    verify: () => Promise<T>,
    cacheable: (result: T) => CachedVerdict | undefined,
  ): Promise<T> {
    const pending = this.inFlight.get(key) as Promise<T> | undefined;
    if (pending) return pending;
    this.stats.misses++;
    const run = (async () => {
      this.stats.verifications++;
      const result = await verify();
      const verdict = cacheable(result);
      if (verdict) {
        this.verdicts.set(key, verdict, {
          ttl: verdict.status === 'pass' ? this.options.passTtlMs : this.options.failTtlMs,
        });
      }
      return result;
    })().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, run);
    return run;
  }

  get size(): number {
    return this.verdicts.size;
  }
}
