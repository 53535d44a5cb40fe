/** readConfig: the defaults, and a ConfigError naming the variable for every bad value. */
import { ConfigError, parseRegistryList, readConfig } from '../../lib/config';
import { LOG_LEVELS } from '../../lib/model/names.cjs';

describe('readConfig defaults', () => {
  test('an empty environment: a local policy folder, no tokens, the documented cache times', () => {
    expect(readConfig({})).toEqual({
      policies: { kind: 'folder', path: './policies' },
      trustRoots: undefined,
      policyRefreshMs: 30_000,
      secretCacheMs: 300_000,
      verificationCache: { maxEntries: 10_000, passTtlMs: 300_000, failTtlMs: 10_000 },
      tagCacheMs: 5_000,
      clusterTokenSecret: undefined,
      registryCredentialSecrets: [],
      insecureRegistries: [],
      allowedPrivateRegistries: [],
      logLevel: 'INFO',
    });
  });

  test('every setting read', () => {
    expect(
      readConfig({
        IMAGEGATE_POLICIES: 's3://acme-imagegate/fleet/policies/',
        IMAGEGATE_TRUST_ROOTS: './trust',
        IMAGEGATE_POLICY_REFRESH_SECONDS: '1',
        IMAGEGATE_SECRET_CACHE_SECONDS: '0',
        IMAGEGATE_VERIFY_CACHE_ENTRIES: '5',
        IMAGEGATE_VERIFY_CACHE_SECONDS: '2.5',
        IMAGEGATE_VERIFY_CACHE_FAIL_SECONDS: '0',
        IMAGEGATE_TAG_CACHE_SECONDS: '0',
        IMAGEGATE_CLUSTER_TOKENS: ' secretsmanager://imagegate/clusters/{cluster} ',
        IMAGEGATE_REGISTRY_CREDENTIALS: 'secretsmanager://a, secretsmanager://b',
        IMAGEGATE_INSECURE_REGISTRIES: 'localhost:5000',
        IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES: 'Registry.Internal:443,[::1]:5000',
        IMAGEGATE_LOG_LEVEL: 'debug',
      }),
    ).toEqual({
      policies: { kind: 's3', bucket: 'acme-imagegate', prefix: 'fleet/policies' },
      trustRoots: { kind: 'folder', path: './trust' },
      policyRefreshMs: 1_000,
      secretCacheMs: 0,
      verificationCache: { maxEntries: 5, passTtlMs: 2_500, failTtlMs: 0 },
      tagCacheMs: 0,
      clusterTokenSecret: 'imagegate/clusters/{cluster}',
      registryCredentialSecrets: ['a', 'b'],
      insecureRegistries: ['localhost:5000'],
      allowedPrivateRegistries: ['registry.internal', '[::1]:5000'],
      logLevel: 'DEBUG',
    });
  });

  test('an S3 location without a prefix', () => {
    expect(readConfig({ IMAGEGATE_POLICIES: 's3://acme-imagegate' }).policies).toEqual({
      kind: 's3',
      bucket: 'acme-imagegate',
      prefix: '',
    });
  });
});

describe('readConfig refuses', () => {
  test.each([
    ['IMAGEGATE_LOG_LEVEL', 'LOUD', `IMAGEGATE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`],
    ['IMAGEGATE_TAG_CACHE_SECONDS', '-1', 'IMAGEGATE_TAG_CACHE_SECONDS must be a number of seconds >= 0'],
    [
      'IMAGEGATE_VERIFY_CACHE_SECONDS',
      'soon',
      'IMAGEGATE_VERIFY_CACHE_SECONDS must be a number of seconds >= 0',
    ],
    ['IMAGEGATE_VERIFY_CACHE_ENTRIES', '0', 'IMAGEGATE_VERIFY_CACHE_ENTRIES must be a whole number >= 1'],
    ['IMAGEGATE_VERIFY_CACHE_ENTRIES', '1.5', 'IMAGEGATE_VERIFY_CACHE_ENTRIES must be a whole number >= 1'],
    ['IMAGEGATE_POLICIES', 's3://A_B/x', 'IMAGEGATE_POLICIES: s3://A_B/x is not s3://bucket/prefix'],
    ['IMAGEGATE_POLICIES', 's3://a..b/x', 'IMAGEGATE_POLICIES: s3://a..b/x is not s3://bucket/prefix'],
    ['IMAGEGATE_TRUST_ROOTS', 's3://', 'IMAGEGATE_TRUST_ROOTS: s3:// is not s3://bucket/prefix'],
    [
      'IMAGEGATE_CLUSTER_TOKENS',
      'imagegate/tokens',
      'IMAGEGATE_CLUSTER_TOKENS: "imagegate/tokens" is not secretsmanager://<secret-id>',
    ],
    [
      'IMAGEGATE_REGISTRY_CREDENTIALS',
      'secretsmanager://',
      'IMAGEGATE_REGISTRY_CREDENTIALS: "secretsmanager://" is not secretsmanager://<secret-id>',
    ],
    [
      'IMAGEGATE_INSECURE_REGISTRIES',
      'https://localhost:5000',
      'IMAGEGATE_INSECURE_REGISTRIES: "https://localhost:5000" is not host[:port]',
    ],
    [
      'IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES',
      'registry:123456',
      'IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES: "registry:123456" is not host[:port]',
    ],
  ])('%s=%j', (name, value, message) => {
    let thrown: unknown;
    try {
      readConfig({ [name]: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown).toMatchObject({ code: 'INVALID_CONFIG', message });
  });

  test('parseRegistryList gives canonical hosts', () => {
    expect(parseRegistryList(' Index.Docker.io , ghcr.io:443 ', 'X')).toEqual(['docker.io', 'ghcr.io']);
  });
});
