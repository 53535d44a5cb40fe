import { ImagegateError } from './errors';

/** Port: the current string value of a secret (Secrets Manager in AWS, a fake in tests). */
export interface SecretReader {
  read(secretId: string): Promise<string>;
}

/** A secret that could not be read; `NOT_FOUND` when it does not exist. Never carries the value. */
export class SecretError extends ImagegateError<'SECRET_NOT_FOUND' | 'SECRET_UNAVAILABLE'> {}

/**
 * Caches secret values for `ttlMs` and shares concurrent reads of the same secret. `refresh`
 * forces the next read to go to the store (after a rejected credential or token).
 */
export class CachedSecrets implements SecretReader {
  private readonly values = new Map<string, { value: Promise<string>; readAt: number }>();

  constructor(
    private readonly reader: SecretReader,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  read(secretId: string): Promise<string> {
    const cached = this.values.get(secretId);
    if (cached && this.now() - cached.readAt < this.ttlMs) return cached.value;
    const value = this.reader.read(secretId);
    this.values.set(secretId, { value, readAt: this.now() });
    value.catch(() => this.values.delete(secretId));
    return value;
  }

  /** Drops the cached value if it is older than `minAgeMs`; true when it was dropped. */
  refresh(secretId: string, minAgeMs = 0): boolean {
    const cached = this.values.get(secretId);
    if (!cached || this.now() - cached.readAt < minAgeMs) return false;
    this.values.delete(secretId);
    return true;
  }
}
