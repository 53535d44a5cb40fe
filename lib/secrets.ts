import { LRUCache } from 'lru-cache';
import { describeError, ImagegateError } from './errors';
import type { SecretReader } from './ports';

/** A secret that could not be read; `NOT_FOUND` when it does not exist. Never carries the value. */
export class SecretError extends ImagegateError<'SECRET_NOT_FOUND' | 'SECRET_UNAVAILABLE'> {}

/** Port: permission for one more call to the secret store; false when the caller must do without. */
export interface CallBudget {
  take(): boolean;
}

/** Bounds of {@link CachedSecrets}. Secret ids can come from request URLs, so every one is kept small. */
export const SECRET_CACHE_LIMITS = {
  /** Secrets (and "does not exist" answers) kept; the least recently used go first. */
  maxEntries: 1_000,
  /** Characters of ids and values kept, all entries together (a Secrets Manager value is at most 64 KiB). */
  maxBytes: 8 * 1024 * 1024,
  /** How long "this secret does not exist" is remembered before the store is asked again. */
  notFoundTtlMs: 10_000,
} as const;

/** What a secret lookup found. `unavailable` and `over-budget` mean no value was ever read. */
export type SecretLookup =
  | { readonly kind: 'value'; readonly value: string }
  | { readonly kind: 'not-found'; readonly error: SecretError }
  | { readonly kind: 'unavailable'; readonly error: SecretError }
  | { readonly kind: 'over-budget' };

type Settled = Extract<SecretLookup, { kind: 'value' | 'not-found' }>;

interface Entry {
  readonly settled: Settled;
  readonly readAt: number;
  /** Set by {@link CachedSecrets.refresh}: re-read on the next lookup, but still a fallback. */
  readonly refreshRequested?: boolean;
}

/**
 * Caches secret values for `ttlMs` and "does not exist" for {@link SECRET_CACHE_LIMITS}.notFoundTtlMs,
 * in a bounded LRU, and shares concurrent reads of the same secret. When a re-read fails (store
 * unavailable) or the caller's {@link CallBudget} is spent, the last answer read is used, however
 * old. `refresh` makes the next lookup go to the store (after a rejected credential or token).
 */
export class CachedSecrets implements SecretReader {
  private readonly entries: LRUCache<string, Entry>;
  private readonly inFlight = new Map<string, Promise<Entry>>();

  constructor(
    private readonly reader: SecretReader,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = new LRUCache<string, Entry>({
      max: SECRET_CACHE_LIMITS.maxEntries,
      maxSize: SECRET_CACHE_LIMITS.maxBytes,
      sizeCalculation: (entry, id) =>
        id.length + 1 + (entry.settled.kind === 'value' ? entry.settled.value.length : 0),
    });
  }

  /** The secret's value; throws {@link SecretError} when it does not exist or cannot be read. */
  async read(secretId: string): Promise<string> {
    const found = await this.lookup(secretId);
    if (found.kind === 'value') return found.value;
    // Without a budget a lookup is never over budget; the branch only satisfies the type.
    throw found.kind === 'over-budget'
      ? new SecretError('SECRET_UNAVAILABLE', `secret ${secretId} could not be read`)
      : found.error;
  }

  /**
   * Looks a secret up. The cached answer is used while it is younger than its time to live and
   * than `maxAgeMs`; otherwise the store is asked, if `budget` allows a call.
   */
  async lookup(
    secretId: string,
    options: { budget?: CallBudget; maxAgeMs?: number } = {},
  ): Promise<SecretLookup> {
    const cached = this.entries.get(secretId);
    if (cached && this.isFresh(cached, options.maxAgeMs)) return cached.settled;
    const pending = this.inFlight.get(secretId);
    if (pending) return this.settle(secretId, pending, cached);
    if (options.budget && !options.budget.take()) return cached?.settled ?? { kind: 'over-budget' };

    const run = this.readFromStore(secretId).finally(() => this.inFlight.delete(secretId));
    this.inFlight.set(secretId, run);
    return this.settle(secretId, run, cached);
  }

  /** What the cache holds now (entries, and characters of ids and values). */
  cacheSize(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.entries.calculatedSize };
  }

  /** Makes the next lookup re-read the secret if it was read at least `minAgeMs` ago; true when so. */
  refresh(secretId: string, minAgeMs = 0): boolean {
    const cached = this.entries.peek(secretId);
    if (!cached || this.now() - cached.readAt < minAgeMs) return false;
    this.entries.set(secretId, { ...cached, refreshRequested: true });
    return true;
  }

  private isFresh(entry: Entry, maxAgeMs = Infinity): boolean {
    const ttl = entry.settled.kind === 'value' ? this.ttlMs : SECRET_CACHE_LIMITS.notFoundTtlMs;
    return !entry.refreshRequested && this.now() - entry.readAt < Math.min(ttl, maxAgeMs);
  }

  private async readFromStore(secretId: string): Promise<Entry> {
    let settled: Settled;
    try {
      settled = { kind: 'value', value: await this.reader.read(secretId) };
    } catch (error) {
      if (!(error instanceof SecretError && error.code === 'SECRET_NOT_FOUND')) throw error;
      settled = { kind: 'not-found', error };
    }
    const entry = { settled, readAt: this.now() };
    this.entries.set(secretId, entry);
    return entry;
  }

  private async settle(
    secretId: string,
    run: Promise<Entry>,
    fallback: Entry | undefined,
  ): Promise<SecretLookup> {
    try {
      return (await run).settled;
    } catch (error) {
      if (fallback) return fallback.settled;
      return {
        kind: 'unavailable',
        error:
          error instanceof SecretError
            ? error
            : new SecretError(
                'SECRET_UNAVAILABLE',
                `secret ${secretId} could not be read: ${describeError(error)}`,
                {
                  cause: error,
                },
              ),
      };
    }
  }
}
