/**
 * CachedSecrets over a scripted store and a fake clock: time to live of values and of "does not
 * exist", fallback to the last answer, single flight, refresh and the call budget.
 */
import { CachedSecrets, SECRET_CACHE_LIMITS, SecretError } from '../../lib/secrets';
import type { SecretReader } from '../../lib/ports';

/** A store whose answers the test sets; counts reads. */
function store(initial: Record<string, string | Error>) {
  const values = { ...initial };
  const reads: string[] = [];
  const reader: SecretReader = {
    read: (id) => {
      reads.push(id);
      const value = values[id];
      if (value === undefined) {
        return Promise.reject(new SecretError('SECRET_NOT_FOUND', `secret ${id} does not exist`));
      }
      return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
    },
  };
  return { reader, reads, values };
}

const TTL = 60_000;

describe('CachedSecrets', () => {
  test('a value is read once per time to live, by the injected clock', async () => {
    let now = 0;
    const { reader, reads, values } = store({ a: 'one' });
    const secrets = new CachedSecrets(reader, TTL, () => now);
    expect(await secrets.read('a')).toBe('one');
    values.a = 'two';
    now = TTL - 1;
    expect(await secrets.read('a')).toBe('one');
    now = TTL;
    expect(await secrets.read('a')).toBe('two');
    expect(reads).toEqual(['a', 'a']);
  });

  test('"does not exist" is remembered for notFoundTtlMs, then asked again', async () => {
    let now = 0;
    const { reader, reads, values } = store({});
    const secrets = new CachedSecrets(reader, TTL, () => now);
    await expect(secrets.read('gone')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    values.gone = 'here';
    now = SECRET_CACHE_LIMITS.notFoundTtlMs - 1;
    await expect(secrets.lookup('gone')).resolves.toMatchObject({ kind: 'not-found' });
    now = SECRET_CACHE_LIMITS.notFoundTtlMs;
    expect(await secrets.read('gone')).toBe('here');
    expect(reads).toEqual(['gone', 'gone']);
  });

  test('when a re-read fails, the last value is used however old; without one the lookup is unavailable', async () => {
    let now = 0;
    const outage = new Error('ThrottlingException');
    const { reader, values } = store({ a: 'one' });
    const secrets = new CachedSecrets(reader, TTL, () => now);
    await secrets.read('a');
    values.a = outage;
    now = 10 * TTL;
    expect(await secrets.read('a')).toBe('one');

    values.b = outage;
    const lookup = await secrets.lookup('b');
    expect(lookup).toMatchObject({
      kind: 'unavailable',
      error: { code: 'SECRET_UNAVAILABLE', cause: outage },
    });
    await expect(secrets.read('b')).rejects.toBeInstanceOf(SecretError);
  });

  test('concurrent reads of one secret share one store call', async () => {
    const { reader, reads } = store({ a: 'one' });
    const secrets = new CachedSecrets(reader, TTL, () => 0);
    await expect(Promise.all([secrets.read('a'), secrets.read('a'), secrets.read('a')])).resolves.toEqual([
      'one',
      'one',
      'one',
    ]);
    expect(reads).toEqual(['a']);
  });

  test('refresh makes the next lookup re-read, only once the entry is at least minAgeMs old', async () => {
    let now = 0;
    const { reader, reads, values } = store({ a: 'one' });
    const secrets = new CachedSecrets(reader, TTL, () => now);
    await secrets.read('a');
    values.a = 'rotated';
    now = 999;
    expect(secrets.refresh('a', 1_000)).toBe(false);
    expect(await secrets.read('a')).toBe('one');
    now = 1_000;
    expect(secrets.refresh('a', 1_000)).toBe(true);
    expect(await secrets.read('a')).toBe('rotated');
    expect(secrets.refresh('never-read')).toBe(false);
    expect(reads).toEqual(['a', 'a']);
  });

  test('a spent call budget answers from the cache, or over-budget without a store call', async () => {
    let now = 0;
    const { reader, reads } = store({ a: 'one' });
    const secrets = new CachedSecrets(reader, TTL, () => now);
    const spent = { take: () => false };
    await expect(secrets.lookup('a', { budget: spent })).resolves.toEqual({ kind: 'over-budget' });
    await secrets.read('a');
    now = 2 * TTL;
    await expect(secrets.lookup('a', { budget: spent })).resolves.toEqual({ kind: 'value', value: 'one' });
    expect(reads).toEqual(['a']);
  });

  test('maxAgeMs shortens the time to live for one lookup', async () => {
    let now = 0;
    const { reader, reads } = store({ a: 'one' });
    const secrets = new CachedSecrets(reader, TTL, () => now);
    await secrets.read('a');
    now = 500;
    await secrets.lookup('a', { maxAgeMs: 1_000 });
    now = 1_000;
    await secrets.lookup('a', { maxAgeMs: 1_000 });
    expect(reads).toEqual(['a', 'a']);
  });

  test(`at most ${SECRET_CACHE_LIMITS.maxEntries} secrets are kept`, async () => {
    const { reader } = store({});
    const secrets = new CachedSecrets(reader, TTL, () => 0);
    for (let index = 0; index < SECRET_CACHE_LIMITS.maxEntries + 10; index++) {
      await secrets.lookup(`missing-${index}`);
    }
    expect(secrets.cacheSize().entries).toBe(SECRET_CACHE_LIMITS.maxEntries);
  });
});
