import { SharedWork } from '../deadline';
import { ExpiringCache } from './expiring-cache';

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
  /** Most bytes kept (keys and failure reasons, as UTF-16); default {@link MAX_VERDICT_BYTES}. */
  readonly maxBytes?: number;
  /** The clock for expiry (tests). */
  readonly now?: () => number;
}

/**
 * Default byte bound of the verdict cache. A key is the policy-set version, the entry's policy,
 * rule and path, and (for attestation conditions that read the image or request) the image or a
 * hash: about 200 bytes; 16 MiB holds the default 10 000 entries with long failure reasons.
 */
export const MAX_VERDICT_BYTES = 16 * 1024 * 1024;

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
 * this instance) share one verification, which runs under its own deadline (the latest of the
 * reviews waiting for it) while each review leaves at its own. An LRU bounded in entries and bytes;
 * an expired verdict is never returned and is dropped when read.
 */
export class VerificationCache {
  readonly stats: VerificationStats = { hits: 0, misses: 0, verifications: 0 };
  private readonly verdicts: ExpiringCache<CachedVerdict>;
  private readonly inFlight = new SharedWork<unknown>();

  constructor(private readonly options: VerificationCacheOptions) {
    this.verdicts = new ExpiringCache<CachedVerdict>({
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes ?? MAX_VERDICT_BYTES,
      size: (verdict, key) => 2 * (key.length + (verdict.status === 'fail' ? verdict.reason.length : 0)),
      now: options.now,
    });
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
   * Runs `verify` once for all concurrent callers of `key`, with a signal that aborts only when
   * every caller waiting for it has reached its deadline; each caller leaves at its own `signal`
   * with `timeout()`. The verdict is cached when it is a pass or a fail (`cacheable`); anything
   * else (could not check) is returned but not kept.
   */
  shared<T>(
    key: string,
    signal: AbortSignal | undefined,
    verify: (signal: AbortSignal) => Promise<T>,
    cacheable: (result: T) => CachedVerdict | undefined,
    timeout: () => Error,
  ): Promise<T> {
    const work = (shared: AbortSignal) => {
      this.stats.misses++;
      this.stats.verifications++;
      return verify(shared).then((result) => {
        const verdict = cacheable(result);
        if (verdict) {
          this.verdicts.set(
            key,
            verdict,
            verdict.status === 'pass' ? this.options.passTtlMs : this.options.failTtlMs,
          );
        }
        return result;
      });
    };
    return this.inFlight.join(key, signal, work, timeout) as Promise<T>;
  }

  get size(): number {
    return this.verdicts.size;
  }

  /** Bytes the kept verdicts take (keys and reasons, as UTF-16). */
  get bytes(): number {
    return this.verdicts.bytes;
  }
}
