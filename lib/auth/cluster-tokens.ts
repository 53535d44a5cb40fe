import { createHash, timingSafeEqual } from 'node:crypto';
import type { CachedSecrets } from '../secrets';

const CLUSTER_PLACEHOLDER = '{cluster}';
const CLUSTER_NAME = /^[a-z0-9]([a-z0-9._-]{0,98}[a-z0-9])?$/;
/** A token mismatch re-reads the secret (a rotation may have happened) at most this often. */
const REFRESH_ON_MISMATCH_AFTER_MS = 1_000;

/**
 * Checks the per-cluster secret path token of `POST /admit/{cluster}/{token}`. Tokens live in
 * Secrets Manager: one secret holding a map `{"<cluster>": {"current": "...", "previous": "..."}}`
 * (a plain string value is a lone current token), or, when the secret id contains `{cluster}`,
 * one secret per cluster holding `{"current": ..., "previous": ...}` or the token itself. Both
 * current and previous are accepted so that a token can be rotated without downtime.
 */
export class ClusterTokens {
  constructor(
    private readonly secretId: string,
    private readonly secrets: CachedSecrets,
  ) {}

  /** True when `token` is a current or previous token of `cluster`. Compares in constant time. */
  async verify(cluster: string, token: string): Promise<boolean> {
    if (!CLUSTER_NAME.test(cluster) || token.length === 0 || token.length > 512) return false;
    if (matchesAny(await this.tokensOf(cluster), token)) return true;
    const id = this.idFor(cluster);
    if (!this.secrets.refresh(id, REFRESH_ON_MISMATCH_AFTER_MS)) return false;
    return matchesAny(await this.tokensOf(cluster), token);
  }

  private idFor(cluster: string): string {
    return this.secretId.replaceAll(CLUSTER_PLACEHOLDER, cluster);
  }

  private async tokensOf(cluster: string): Promise<string[]> {
    const perCluster = this.secretId.includes(CLUSTER_PLACEHOLDER);
    const value = await this.secrets.read(this.idFor(cluster));
    const parsed = parseJson(value);
    const entry = perCluster
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

/** Compares against every candidate, equal-length digests, so timing says nothing about the token. */
function matchesAny(candidates: readonly string[], token: string): boolean {
  const presented = createHash('sha256').update(token).digest();
  let matched = false;
  for (const candidate of candidates) {
    matched = timingSafeEqual(createHash('sha256').update(candidate).digest(), presented) || matched;
  }
  return matched;
}
