import { LRUCache } from 'lru-cache';

export interface ExpiringCacheOptions<V> {
  /** Most entries kept; the least recently used go first. */
  readonly maxEntries: number;
  /** Most bytes kept, as `size` counts them; an entry larger than this is not kept. */
  readonly maxBytes: number;
  /** The bytes an entry takes (key included). */
  readonly size: (value: V, key: string) => number;
  readonly now?: () => number;
}

/**
 * An LRU cache bounded in entries and bytes whose entries expire: an expired entry is never
 * returned and is dropped when read, and every expired entry is dropped on a write at most once
 * per lifetime of the entries being written (so expired entries never fill the cache).
 */
export class ExpiringCache<V> {
  private readonly entries: LRUCache<string, { readonly value: V; readonly until: number }>;
  private readonly now: () => number;
  private nextPurge = -Infinity;

  constructor(options: ExpiringCacheOptions<V>) {
    this.now = options.now ?? Date.now;
    this.entries = new LRUCache({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (entry, key) => Math.max(1, options.size(entry.value, key)),
    });
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Keeps `value` for `ttlMs` (nothing for a lifetime of 0 or less). */
  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    const now = this.now();
    if (now >= this.nextPurge) {
      this.purge(now);
      this.nextPurge = now + ttlMs;
    }
    this.entries.set(key, { value, until: now + ttlMs });
  }

  /** Entries kept now, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes kept now, as the size function counts them. */
  get bytes(): number {
    return this.entries.calculatedSize;
  }

  private purge(now: number): void {
    const expired: string[] = [];
    this.entries.forEach((entry, key) => {
      if (entry.until <= now) expired.push(key);
    });
    for (const key of expired) this.entries.delete(key);
  }
}
