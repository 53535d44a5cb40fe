import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CLUSTER_NAME } from '../model/names.cjs';
import {
  SECRET_CACHE_LIMITS,
  type CachedSecrets,
  type CallBudget,
  type SecretError,
  type SecretLookup,
} from '../secrets';

const CLUSTER_PLACEHOLDER = '{cluster}';
const MAX_TOKEN_LENGTH = 512;

/** How often cluster-token checks may call Secrets Manager, per function instance. */
export const CLUSTER_TOKEN_LOOKUP_LIMITS = {
  /** Calls that may be made at once after a quiet period (the bucket's size). */
  burst: 60,
  /** Calls added back per minute, spread evenly (one a second). */
  perMinute: 60,
  /**
   * A failed check (no secret for the cluster, or no token matches) re-reads the secret once its
   * cached answer is this old: a rotated token is picked up, and "no such cluster" and "wrong
   * token" cost the same calls at the same moments.
   */
  recheckAfterMs: SECRET_CACHE_LIMITS.notFoundTtlMs,
} as const;

/**
 * Why a request was refused. Only the log says which; the caller always gets the same answer.
 * `secret-unavailable`: the cluster's own secret (one per cluster) could not be read and no
 * value was ever read in this instance.
 */
export type TokenRefusal =
  'malformed' | 'wrong-token' | 'unknown-cluster' | 'over-budget' | 'secret-unavailable';

/** The outcome of {@link ClusterTokens.verify}. */
export type TokenCheck =
  | { readonly valid: true }
  | { readonly valid: false; readonly reason: TokenRefusal; readonly error?: SecretError };

/** A token bucket: `burst` calls at once, refilled continuously at `perMinute`. */
export class TokenBucket implements CallBudget {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.perMinute) / 60_000);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Checks the per-cluster secret path token of `POST /admit/{cluster}/{token}`. Tokens live in
 * Secrets Manager: one secret holding a map `{"<cluster>": {"current": "...", "previous": "..."}}`
 * (a plain string value is a lone current token), or, when the secret id contains `{cluster}`,
 * one secret per cluster holding `{"current": ..., "previous": ...}` or the token itself. Both
 * current and previous are accepted so that a token can be rotated without downtime.
 *
 * Cluster names come from the URL, so an unknown cluster is refused exactly as a wrong token is,
 * and Secrets Manager is called at most {@link CLUSTER_TOKEN_LOOKUP_LIMITS} allow, whatever the
 * request rate: past that, a check uses the last answer read, or refuses.
 */
export class ClusterTokens {
  private readonly perCluster: boolean;

  constructor(
    private readonly secretId: string,
    private readonly secrets: CachedSecrets,
    private readonly budget: CallBudget = new TokenBucket(
      CLUSTER_TOKEN_LOOKUP_LIMITS.burst,
      CLUSTER_TOKEN_LOOKUP_LIMITS.perMinute,
    ),
  ) {
    this.perCluster = secretId.includes(CLUSTER_PLACEHOLDER);
  }

  /**
   * Whether `token` is a current or previous token of `cluster`. Compares in constant time.
   * Throws {@link SecretError} only when the one shared token secret (no `{cluster}` in its id)
   * does not exist or cannot be read.
   */
  async verify(cluster: string, token: string): Promise<TokenCheck> {
    if (!CLUSTER_NAME.test(cluster) || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return { valid: false, reason: 'malformed' };
    }
    const id = this.secretId.replaceAll(CLUSTER_PLACEHOLDER, cluster);
    const first = await this.secrets.lookup(id, { budget: this.budget });
    if (first.kind === 'value' && matchesAny(this.tokensOf(cluster, first.value), token)) {
      return { valid: true };
    }
    if (first.kind !== 'value' && first.kind !== 'not-found') return this.refusal(first);
    // No secret and no matching token take the same path: re-read once the answer is old enough.
    const again = await this.secrets.lookup(id, {
      budget: this.budget,
      maxAgeMs: CLUSTER_TOKEN_LOOKUP_LIMITS.recheckAfterMs,
    });
    if (again.kind !== 'value') return this.refusal(again);
    return matchesAny(this.tokensOf(cluster, again.value), token)
      ? { valid: true }
      : { valid: false, reason: 'wrong-token' };
  }

  private refusal(found: Exclude<SecretLookup, { kind: 'value' }>): TokenCheck {
    if (found.kind === 'over-budget') return { valid: false, reason: 'over-budget' };
    // The one shared secret missing or unreadable: nobody can be authenticated, and saying so
    // tells nothing about any cluster.
    if (!this.perCluster) throw found.error;
    if (found.kind === 'not-found') return { valid: false, reason: 'unknown-cluster', error: found.error };
    // With one secret per cluster, "cannot be read" must not answer differently from "does not
    // exist", or an outage would tell real cluster names from made-up ones.
    return { valid: false, reason: 'secret-unavailable', error: found.error };
  }

  private tokensOf(cluster: string, value: string): string[] {
    const parsed = parseJson(value);
    const entry = this.perCluster
      ? typeof parsed === 'object' && parsed !== null
        ? parsed
        : value
      : (parsed as Record<string, unknown> | undefined)?.[cluster];
    if (typeof entry === 'string') return [entry];
    if (typeof entry !== 'object' || entry === null) return [];
    const { current, previous } = entry as { current?: unknown; previous?: unknown };
    return [current, previous].filter((item): item is string => typeof item === 'string' && item.length > 0);
  }
}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/** Hashed in place of an absent candidate, so that every check hashes alike; never matches. */
const NO_CANDIDATE = randomBytes(32);

/**
 * Compares against a current and a previous slot, equal-length digests, whether or not the
 * cluster has them, so timing says nothing about the token or about which tokens exist.
 */
function matchesAny(candidates: readonly string[], token: string): boolean {
  const presented = createHash('sha256').update(token).digest();
  const slots = [...candidates];
  while (slots.length < 2) slots.push('');
  let matched = false;
  for (const candidate of slots) {
    const digest = createHash('sha256')
      .update(candidate === '' ? NO_CANDIDATE : candidate)
      .digest();
    matched = (timingSafeEqual(digest, presented) && candidate !== '') || matched;
  }
  return matched;
}
