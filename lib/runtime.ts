import { CLUSTER_TOKEN_LOOKUP_LIMITS, ClusterTokens, TokenBucket } from './auth/cluster-tokens';
import { VerificationCache } from './cache/verification-cache';
import type { Config } from './config';
import { RegistryImageSource } from './oci/image-source';
import { ECR_HOST, SecretCredentialStore } from './oci/credentials';
import { RegistryClient } from './oci/registry';
import { RetryingTransport } from './oci/retry';
import { GuardedTransport, RegistryAddressGuard } from './oci/address-guard';
import { UndiciTransport } from './oci/transport';
import { FolderPolicyStore } from './fs/policy-folder';
import type { PolicySet } from './policy/policy-set';
import { RefreshingPolicyProvider } from './cache/policy-provider';
import { CachedSecrets } from './secrets';
import { loadTrustRoots, PUBLIC_GOOD_TRUST_ROOT } from './verify/trust-roots';
import { readTrustRootFolder } from './fs/trust-root-folder';
import type { RuntimeObserver } from './review/events';
import { Gatherer } from './review/gather';
import type { WebhookDependencies } from './review/webhook';
import type { AwsAdapters, Clock, Log, PolicyProvider, RegistryTransport, Resolver } from './ports';

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

/** Everything the HTTP adapter needs: the webhook's dependencies plus cluster authentication. */
export interface Runtime extends WebhookDependencies {
  /** Unset when no token secret is configured (local use): requests are then not authenticated. */
  readonly tokens: ClusterTokens | undefined;
  close(): Promise<void>;
}

/**
 * Builds the webhook's adapters from configuration; call once per process (Lambda container,
 * CLI run). `options.aws` is called only when AWS is needed, so local runs never load the SDK;
 * `options.transport` replaces the network (tests); `options.observe` receives reviews and policy
 * loads (decision logs, metrics); `options.clock` is the time every cache, token and budget
 * expires by, and the time reviews verify at (tests advance a fake one).
 */
export function createRuntime(
  config: Config,
  log: Log,
  options: {
    aws?: () => AwsAdapters;
    transport?: RegistryTransport;
    observe?: RuntimeObserver;
    /** Resolves registry host names for the SSRF guard (tests); default node:dns. */
    resolve?: Resolver;
    /** Default: the system clock. */
    clock?: Clock;
  } = {},
): Runtime {
  const { aws } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const now = () => clock.now();
  let adapters: AwsAdapters | undefined;
  const awsAdapters = (): AwsAdapters => {
    if (!aws)
      throw new Error(
        'this configuration needs AWS (S3, Secrets Manager or ECR), which is not available here',
      );
    return (adapters ??= aws());
  };
  const usesSecrets = config.clusterTokenSecret !== undefined || config.registryCredentialSecrets.length > 0;
  const secrets = usesSecrets
    ? new CachedSecrets(awsAdapters().secrets(), config.secretCacheMs, now)
    : undefined;
  const credentialStore = secrets
    ? new SecretCredentialStore(config.registryCredentialSecrets, secrets, (message) =>
        log.warn('registry credential secret unusable', { error: message }),
      )
    : undefined;
  // ECR needs only the function's role; its client is created on the first ECR image.
  let ecr: ReturnType<AwsAdapters['ecrCredentials']> | undefined;
  const ecrFor = (registry: string) =>
    aws && ECR_HOST.test(registry) ? (ecr ??= awsAdapters().ecrCredentials(now)) : undefined;
  const undici = options.transport ? undefined : new UndiciTransport();
  const transport = guardedTransport(config, options.transport ?? undici!, options.resolve, now);
  const client = new RegistryClient({
    transport,
    insecureRegistries: config.insecureRegistries,
    now,
    credentials: async (registry) =>
      (await ecrFor(registry)?.lookup(registry)) ?? credentialStore?.lookup(registry),
    refreshCredentials: (registry) => {
      const ecrRefreshed = ecrFor(registry)?.invalidate(registry) ?? false;
      const secretsRefreshed = credentialStore?.invalidate() ?? false;
      return ecrRefreshed || secretsRefreshed;
    },
  });

  const store =
    config.policies.kind === 's3'
      ? awsAdapters().policyStore(config.policies.bucket, config.policies.prefix)
      : new FolderPolicyStore(config.policies.path);
  const trust = once(async () => {
    const source = config.trustRoots;
    const documents =
      source?.kind === 's3'
        ? await awsAdapters().trustRootDocuments(source.bucket, source.prefix)
        : source
          ? await readTrustRootFolder(source.path)
          : [];
    return loadTrustRoots([PUBLIC_GOOD_TRUST_ROOT, ...documents]);
  });
  const provider = new RefreshingPolicyProvider(store, {
    refreshMs: config.policyRefreshMs,
    now,
    parseOptions: async () => ({ trust: await trust() }),
    events: {
      loaded: (details) => {
        const policyLoad = options.observe?.policyLoad;
        if (policyLoad) policyLoad({ outcome: 'loaded', location: store.location, ...details });
        else log.info('policy set loaded', { location: store.location, ...details });
      },
      failed: (details) => {
        const policyLoad = options.observe?.policyLoad;
        if (policyLoad) policyLoad({ outcome: 'failed', location: store.location, ...details });
        else log.error('policy set not loaded', { location: store.location, ...details });
      },
    },
  });

  return {
    policies: withCredentialSecrets(provider, credentialStore),
    images: new Gatherer(new RegistryImageSource(client, { tagCacheMs: config.tagCacheMs, now })),
    cache: new VerificationCache({ ...config.verificationCache, now }),
    trust,
    log,
    clock,
    observe: options.observe?.review,
    tokens:
      config.clusterTokenSecret && secrets
        ? new ClusterTokens(
            config.clusterTokenSecret,
            secrets,
            new TokenBucket(CLUSTER_TOKEN_LOOKUP_LIMITS.burst, CLUSTER_TOKEN_LOOKUP_LIMITS.perMinute, now),
          )
        : undefined,
    close: async () => undici?.close(),
  };
}

/**
 * What every registry request goes through: the SSRF guard (refuses loopback, link-local and
 * private addresses unless the registry is insecure or in IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES,
 * and pins the connection to the checked address), then retries of 429/502/503/504. The retries
 * keep the system clock: they wait with timers, up to the review's deadline, which is a timer too
 * (lib/deadline.ts), so a clock that tests advance would only misjudge the time left.
 */
function guardedTransport(
  config: Config,
  transport: RegistryTransport,
  resolve: Resolver | undefined,
  now: () => number,
): RegistryTransport {
  const guard = new RegistryAddressGuard({
    allowed: [...config.insecureRegistries, ...config.allowedPrivateRegistries],
    resolve,
    now,
  });
  return new GuardedTransport(new RetryingTransport(transport), guard);
}

/** `load` run once; a failure is not kept, so the next call tries again. */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

/** Registry-credential secrets named by policies join the configured ones (once per policy set). */
function withCredentialSecrets(
  provider: PolicyProvider,
  store: SecretCredentialStore | undefined,
): PolicyProvider {
  if (!store) return provider;
  const seen = new WeakSet<PolicySet>();
  return {
    current: async (cluster?: string): Promise<PolicySet> => {
      const set = await provider.current(cluster);
      if (seen.has(set)) return set;
      seen.add(set);
      for (const policy of set.policies) {
        for (const rule of policy.rules) {
          for (const entry of rule.verifyImages) store.addSecrets(entry.credentialSecrets);
        }
      }
      return set;
    },
  };
}
