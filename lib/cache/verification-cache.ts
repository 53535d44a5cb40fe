import type { CheckCause } from '../model/outcome';
import { ExpiringCache } from './expiring-cache';

/** A verdict worth remembering: trusted, or not trusted (and why). "Could not check" is never cached. */
export type CachedVerdict =
  { readonly status: 'pass' } | { readonly status: 'fail'; readonly cause: CheckCause };

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
 * Verdicts by policy-set version + attestor entry + image digest — never by tag. An LRU bounded in
 * entries and bytes; an expired verdict is never returned and is dropped when read. Plain data: the
 * review's gather step (lib/review/gather.ts) shares verifications in flight.
 */
export class VerificationCache {
  readonly stats: VerificationStats = { hits: 0, misses: 0, verifications: 0 };
  private readonly verdicts: ExpiringCache<CachedVerdict>;

  constructor(private readonly options: VerificationCacheOptions) {
    this.verdicts = new ExpiringCache<CachedVerdict>({
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes ?? MAX_VERDICT_BYTES,
      size: (verdict, key) => 2 * (key.length + (verdict.status === 'fail' ? causeLength(verdict.cause) : 0)),
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
   * Counts a verification that had to run for `key`, and keeps its verdict when it is a pass or a
   * fail (`undefined`: could not check, which is never kept).
   */
  verified(key: string, verdict: CachedVerdict | undefined): void {
    this.stats.misses++;
    this.stats.verifications++;
    if (!verdict) return;
    this.verdicts.set(
      key,
      verdict,
      verdict.status === 'pass' ? this.options.passTtlMs : this.options.failTtlMs,
    );
  }

  get size(): number {
    return this.verdicts.size;
  }

  /** Bytes the kept verdicts take (keys and reasons, as UTF-16). */
  get bytes(): number {
    return this.verdicts.bytes;
  }
}

/** The characters a cause keeps (its words and its registry), for the byte bound. */
function causeLength(cause: CheckCause): number {
  return ('detail' in cause ? cause.detail.length : 0) + ('registry' in cause ? cause.registry.length : 0);
}
