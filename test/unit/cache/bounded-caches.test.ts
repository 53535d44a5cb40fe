/**
 * Every in-process cache stays within its bounds, in entries and in bytes, under as many distinct
 * keys as a hostile cluster user can send, and drops what has expired (an injected clock).
 */
import { ExpiringCache } from '../../../lib/cache/expiring-cache';
import { VerificationCache } from '../../../lib/cache/verification-cache';
import { MAX_REMEMBERED_TAGS, RegistryImageSource } from '../../../lib/oci/image-source';
import { parseImageReference } from '../../../lib/model/image';
import type { RegistryClient } from '../../../lib/oci/registry';
import { MAX_CACHED_HOSTS, RegistryAddressGuard } from '../../../lib/oci/address-guard';
import { MAX_CACHED_CLUSTERS, RefreshingPolicyProvider } from '../../../lib/cache/policy-provider';
import type { PolicyStore } from '../../../lib/ports';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('ExpiringCache', () => {
  test('keeps at most maxEntries, least recently used out first', () => {
    const cache = new ExpiringCache<string>({ maxEntries: 100, maxBytes: 1e9, size: () => 1, now: () => 1 });
    for (let i = 0; i < 1_000; i++) cache.set(`key${i}`, 'value', 10);
    expect(cache.size).toBe(100);
    expect(cache.get('key999')).toBe('value');
    expect(cache.get('key0')).toBeUndefined();
  });

  test('keeps at most maxBytes, and never an entry larger than that', () => {
    const cache = new ExpiringCache<string>({
      maxEntries: 1_000,
      maxBytes: 10_000,
      size: (value, key) => value.length + key.length,
      now: () => 1,
    });
    for (let i = 0; i < 1_000; i++) cache.set(`k${i}`, 'x'.repeat(500), 10);
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    cache.set('huge', 'x'.repeat(20_000), 10);
    expect(cache.get('huge')).toBeUndefined();
  });

  test('an expired entry is never returned, and every expired entry goes on a later write', () => {
    let now = 1_000;
    const cache = new ExpiringCache<string>({
      maxEntries: 100,
      maxBytes: 1e9,
      size: () => 1,
      now: () => now,
    });
    for (let i = 0; i < 50; i++) cache.set(`old${i}`, 'value', 10);
    now += 10;
    expect(cache.get('old0')).toBeUndefined();
    cache.set('new', 'value', 10);
    expect(cache.size).toBe(1);
  });
});

describe('the caches of the process', () => {
  test('tag resolutions: at most MAX_REMEMBERED_TAGS, each for the tag cache time', async () => {
    let now = 1_000;
    let manifests = 0;
    const client = {
      getManifest: () => {
        manifests++;
        return Promise.resolve({ digest: DIGEST, mediaType: '', bytes: new Uint8Array(), json: {} });
      },
    } as unknown as RegistryClient;
    const source = new RegistryImageSource(client, { tagCacheMs: 5_000, now: () => now });
    for (let i = 0; i < MAX_REMEMBERED_TAGS + 500; i++) {
      await source.resolveDigest(parseImageReference(`registry.example/app:tag${i}`));
    }
    expect(source.rememberedTags).toBe(MAX_REMEMBERED_TAGS);

    manifests = 0;
    await source.resolveDigest(parseImageReference(`registry.example/app:tag${MAX_REMEMBERED_TAGS + 499}`));
    expect(manifests).toBe(0);
    now += 5_000;
    await source.resolveDigest(parseImageReference(`registry.example/app:tag${MAX_REMEMBERED_TAGS + 499}`));
    expect(manifests).toBe(1);
    expect(source.rememberedTags).toBe(1);
  });

  test('SSRF guard answers: at most MAX_CACHED_HOSTS host names', async () => {
    let now = 1_000;
    const guard = new RegistryAddressGuard({
      resolve: () => Promise.resolve(['93.184.216.34']),
      now: () => now,
    });
    for (let i = 0; i < MAX_CACHED_HOSTS + 500; i++) {
      await guard.check(new URL(`https://registry${i}.example/v2/`));
    }
    expect(guard.cachedHosts).toBe(MAX_CACHED_HOSTS);
    now += 60_000;
    await guard.check(new URL('https://another.example/v2/'));
    expect(guard.cachedHosts).toBe(1);
  });

  test('verdicts: at most maxEntries, and at most maxBytes however long the keys and reasons', () => {
    const cache = new VerificationCache({
      maxEntries: 500,
      passTtlMs: 300_000,
      failTtlMs: 10_000,
      now: () => 1_000,
    });
    for (let i = 0; i < 1_000; i++) cache.verified(`key${i}`, { status: 'pass' });
    expect(cache.size).toBe(500);

    const small = new VerificationCache({
      maxEntries: 10_000,
      passTtlMs: 300_000,
      failTtlMs: 10_000,
      maxBytes: 1024 * 1024,
      now: () => 1_000,
    });
    const detail = 'r'.repeat(10_000);
    for (let i = 0; i < 1_000; i++) {
      small.verified(`key${i}|image=${'x'.repeat(1_000)}`, {
        status: 'fail',
        cause: { kind: 'verification', failure: 'NO_SIGNATURES', detail },
      });
    }
    expect(small.size).toBeGreaterThan(0);
    expect(small.size).toBeLessThan(1_000);
    expect(small.bytes).toBeLessThanOrEqual(1024 * 1024);
  });

  test('policy sets: at most MAX_CACHED_CLUSTERS clusters, whatever names the URLs carry', async () => {
    const store: PolicyStore = {
      location: 'memory',
      list: () => Promise.resolve([]),
      read: () => Promise.resolve(''),
    };
    const provider = new RefreshingPolicyProvider(store, { refreshMs: 30_000, now: () => 1_000 });
    for (let i = 0; i < MAX_CACHED_CLUSTERS + 200; i++) await provider.current(`made-up-${i}`);
    expect(provider.cachedClusters).toBe(MAX_CACHED_CLUSTERS);
  });
});
