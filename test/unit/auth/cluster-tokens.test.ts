/**
 * Cluster tokens and the secret cache under them: an unknown cluster is refused exactly as a
 * wrong token is, Secrets Manager calls are bounded whatever the request rate, and the cache of
 * secrets (whose ids come from request URLs) is bounded.
 */
import {
  CLUSTER_TOKEN_LOOKUP_LIMITS,
  ClusterTokens,
  TokenBucket,
  type TokenCheck,
} from '../../../lib/auth/cluster-tokens';
import { CachedSecrets, SECRET_CACHE_LIMITS, SecretError } from '../../../lib/secrets';
import type { SecretReader } from '../../../lib/ports';

const PER_CLUSTER = 'imagegate/clusters/{cluster}';
const TTL_MS = 300_000;

/** A Secrets Manager stand-in: values by id, a call counter, and an outage switch. */
class FakeStore implements SecretReader {
  readonly values = new Map<string, string>();
  calls: string[] = [];
  down = false;

  read(secretId: string): Promise<string> {
    this.calls.push(secretId);
    if (this.down) return Promise.reject(new SecretError('SECRET_UNAVAILABLE', `secret ${secretId}: outage`));
    const value = this.values.get(secretId);
    if (value === undefined) {
      return Promise.reject(new SecretError('SECRET_NOT_FOUND', `secret ${secretId} does not exist`));
    }
    return Promise.resolve(value);
  }
}

function setup(secretId = PER_CLUSTER) {
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  const store = new FakeStore();
  const secrets = new CachedSecrets(store, TTL_MS, now);
  const tokens = new ClusterTokens(
    secretId,
    secrets,
    new TokenBucket(CLUSTER_TOKEN_LOOKUP_LIMITS.burst, CLUSTER_TOKEN_LOOKUP_LIMITS.perMinute, now),
  );
  return { clock, store, secrets, tokens };
}

const valid: TokenCheck = { valid: true };

describe('one secret per cluster', () => {
  test('the right token passes; a wrong token and an unknown cluster are both refused', async () => {
    const { store, tokens } = setup();
    store.values.set(
      'imagegate/clusters/prod',
      JSON.stringify({ current: 'prod-token', previous: 'old-token' }),
    );
    expect(await tokens.verify('prod', 'prod-token')).toEqual(valid);
    expect(await tokens.verify('prod', 'old-token')).toEqual(valid);
    expect(await tokens.verify('prod', 'wrong')).toMatchObject({ valid: false, reason: 'wrong-token' });
    expect(await tokens.verify('staging', 'prod-token')).toMatchObject({
      valid: false,
      reason: 'unknown-cluster',
    });
  });

  test(`an unknown cluster is remembered for ${SECRET_CACHE_LIMITS.notFoundTtlMs} ms, then asked again`, async () => {
    const { clock, store, tokens } = setup();
    await tokens.verify('ghost', 'token');
    await tokens.verify('ghost', 'token');
    clock.now += SECRET_CACHE_LIMITS.notFoundTtlMs - 1;
    await tokens.verify('ghost', 'token');
    expect(store.calls).toEqual(['imagegate/clusters/ghost']);
    clock.now += 1;
    await tokens.verify('ghost', 'token');
    expect(store.calls).toHaveLength(2);
  });

  test('a wrong token and an unknown cluster cost the same calls at the same moments', async () => {
    const { clock, store, tokens } = setup();
    store.values.set('imagegate/clusters/prod', 'prod-token');
    const callsFor = async (cluster: string) => {
      const before = store.calls.length;
      const counts: number[] = [];
      for (const step of [0, 1, CLUSTER_TOKEN_LOOKUP_LIMITS.recheckAfterMs, 1]) {
        clock.now += step;
        await tokens.verify(cluster, 'not-the-token');
        counts.push(store.calls.length - before);
      }
      return counts;
    };
    const wrongToken = await callsFor('prod');
    const unknown = await callsFor('ghost');
    expect(unknown).toEqual(wrongToken);
    expect(wrongToken).toEqual([1, 1, 2, 2]);
  });

  test(`made-up clusters cost at most ${CLUSTER_TOKEN_LOOKUP_LIMITS.burst} calls at once and ${CLUSTER_TOKEN_LOOKUP_LIMITS.perMinute} a minute`, async () => {
    const { clock, store, tokens } = setup();
    for (let index = 0; index < 500; index++) {
      expect((await tokens.verify(`made-up-${index}`, 'token')).valid).toBe(false);
    }
    expect(store.calls).toHaveLength(CLUSTER_TOKEN_LOOKUP_LIMITS.burst);
    for (let second = 0; second < 60; second++) {
      clock.now += 1_000;
      for (let index = 0; index < 20; index++) await tokens.verify(`later-${second}-${index}`, 'token');
    }
    expect(store.calls).toHaveLength(
      CLUSTER_TOKEN_LOOKUP_LIMITS.burst + CLUSTER_TOKEN_LOOKUP_LIMITS.perMinute,
    );
  });

  test('once the budget is spent, an unseen cluster is refused as a wrong token, without a call', async () => {
    const { store, tokens } = setup();
    store.values.set('imagegate/clusters/prod', 'prod-token');
    for (let index = 0; index < CLUSTER_TOKEN_LOOKUP_LIMITS.burst; index++)
      await tokens.verify(`x-${index}`, 't');
    const calls = store.calls.length;
    expect(await tokens.verify('prod', 'prod-token')).toEqual({ valid: false, reason: 'over-budget' });
    expect(store.calls).toHaveLength(calls);
  });

  test('a cluster already read keeps working past its cache time while the budget is spent', async () => {
    const { clock, store, tokens } = setup();
    store.values.set('imagegate/clusters/prod', 'prod-token');
    expect(await tokens.verify('prod', 'prod-token')).toEqual(valid);
    for (let index = 0; index < 500; index++) await tokens.verify(`x-${index}`, 't');
    clock.now += TTL_MS;
    // The bucket refilled a little with the time that passed; spend it again.
    for (let index = 0; index < 500; index++) await tokens.verify(`y-${index}`, 't');
    expect(await tokens.verify('prod', 'prod-token')).toEqual(valid);
  });

  test('an outage answers an unknown cluster as a wrong token; a cluster already read keeps its tokens', async () => {
    const { clock, store, tokens } = setup();
    store.values.set('imagegate/clusters/prod', 'prod-token');
    expect(await tokens.verify('prod', 'prod-token')).toEqual(valid);
    store.down = true;
    clock.now += TTL_MS;
    expect(await tokens.verify('prod', 'prod-token')).toEqual(valid);
    expect(await tokens.verify('ghost', 'prod-token')).toMatchObject({
      valid: false,
      reason: 'secret-unavailable',
    });
  });

  test('names that are not cluster names and absurd tokens are refused without a call', async () => {
    const { store, tokens } = setup();
    for (const [cluster, token] of [
      ['Prod', 't'],
      ['../x', 't'],
      ['a'.repeat(101), 't'],
      // One cluster-name rule everywhere (lib/model/names.cjs): a DNS label.
      ['a'.repeat(64), 't'],
      ['prod.eu', 't'],
      ['prod_eu', 't'],
      ['prod-', 't'],
      ['prod', ''],
      ['prod', 'x'.repeat(513)],
    ] as const) {
      expect(await tokens.verify(cluster, token)).toEqual({ valid: false, reason: 'malformed' });
    }
    expect(store.calls).toEqual([]);
  });

  test('a rotated token is picked up once the cached secret is old enough to re-read', async () => {
    const { clock, store, tokens } = setup();
    store.values.set('imagegate/clusters/prod', 'old');
    expect(await tokens.verify('prod', 'old')).toEqual(valid);
    store.values.set('imagegate/clusters/prod', JSON.stringify({ current: 'new', previous: 'old' }));
    clock.now += CLUSTER_TOKEN_LOOKUP_LIMITS.recheckAfterMs;
    expect(await tokens.verify('prod', 'new')).toEqual(valid);
  });
});

describe('one shared token secret', () => {
  test('an unknown cluster is a wrong token; a missing or unreadable secret throws (503)', async () => {
    const missing = setup('imagegate/cluster-tokens');
    await expect(missing.tokens.verify('prod', 'token')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    const fresh = setup('imagegate/cluster-tokens');
    fresh.store.values.set('imagegate/cluster-tokens', JSON.stringify({ prod: 'prod-token' }));
    expect(await fresh.tokens.verify('prod', 'prod-token')).toEqual(valid);
    expect(await fresh.tokens.verify('staging', 'prod-token')).toEqual({
      valid: false,
      reason: 'wrong-token',
    });
    const down = setup('imagegate/cluster-tokens');
    down.store.down = true;
    await expect(down.tokens.verify('prod', 'prod-token')).rejects.toMatchObject({
      code: 'SECRET_UNAVAILABLE',
    });
  });
});

describe('the secret cache', () => {
  test(`holds at most ${SECRET_CACHE_LIMITS.maxEntries} secrets, whatever ids are asked for`, async () => {
    const secrets = new CachedSecrets(new FakeStore(), TTL_MS);
    const unlimited = new ClusterTokens(PER_CLUSTER, secrets, { take: () => true });
    for (let index = 0; index < SECRET_CACHE_LIMITS.maxEntries + 500; index++) {
      await unlimited.verify(`c-${index}`, 't');
    }
    expect(secrets.cacheSize().entries).toBe(SECRET_CACHE_LIMITS.maxEntries);
  });

  test(`holds at most ${SECRET_CACHE_LIMITS.maxBytes} characters of values`, async () => {
    const store = new FakeStore();
    const secrets = new CachedSecrets(store, TTL_MS);
    const large = 'v'.repeat(64 * 1024);
    for (let index = 0; index < 200; index++) {
      store.values.set(`s-${index}`, large);
      await secrets.read(`s-${index}`);
    }
    expect(secrets.cacheSize().bytes).toBeLessThanOrEqual(SECRET_CACHE_LIMITS.maxBytes);
    expect(secrets.cacheSize().entries).toBeLessThan(200);
  });

  test('concurrent reads of one secret share one call; refresh forces the next one', async () => {
    const store = new FakeStore();
    store.values.set('s', 'v');
    const secrets = new CachedSecrets(store, TTL_MS);
    expect(await Promise.all([secrets.read('s'), secrets.read('s'), secrets.read('s')])).toEqual([
      'v',
      'v',
      'v',
    ]);
    expect(store.calls).toEqual(['s']);
    expect(secrets.refresh('s')).toBe(true);
    await secrets.read('s');
    expect(store.calls).toEqual(['s', 's']);
  });
});
