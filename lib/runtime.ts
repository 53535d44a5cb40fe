import { ClusterTokens } from './auth/cluster-tokens';
import { VerificationCache } from './cache/verification-cache';
import type { Config } from './config';
import { RegistryImageSource } from './oci/image-source';
import { ECR_HOST, SecretCredentialStore } from './oci/credentials';
import { RegistryClient, type CredentialLookup } from './oci/registry';
import { UndiciTransport, type RegistryTransport } from './oci/transport';
import { FolderPolicyStore } from './policy/folder-source';
import type { PolicyProvider, PolicySet } from './policy/policy-set';
import { RefreshingPolicyProvider } from './policy/provider';
import type { PolicyStore } from './policy/store';
import { CachedSecrets, type SecretReader } from './secrets';
import type { Log, WebhookDependencies } from './webhook';

/** The AWS-backed adapters, built only when the configuration needs them (they load the SDK). */
export interface AwsAdapters {
  policyStore(bucket: string, prefix: string): PolicyStore;
  secrets(): SecretReader;
  ecrCredentials(): { lookup: CredentialLookup; invalidate(registry: string): boolean };
}

/** Everything the HTTP adapter needs: the webhook's dependencies plus cluster authentication. */
export interface Runtime extends WebhookDependencies {
  /** Unset when no token secret is configured (local use): requests are then not authenticated. */
  readonly tokens: ClusterTokens | undefined;
  close(): Promise<void>;
}

/**
 * Builds the webhook's adapters from configuration; call once per process (Lambda container,
 * CLI run). `options.aws` is called only when AWS is needed, so local runs never load the SDK;
 * `options.transport` replaces the network (tests).
 */
export function createRuntime(
  config: Config,
  log: Log,
  options: { aws?: () => AwsAdapters; transport?: RegistryTransport } = {},
): Runtime {
  const { aws } = options;
  let adapters: AwsAdapters | undefined;
  const awsAdapters = (): AwsAdapters => {
    if (!aws)
      throw new Error(
        'this configuration needs AWS (S3, Secrets Manager or ECR), which is not available here',
      );
    return (adapters ??= aws());
  };
  const usesSecrets = config.clusterTokenSecret !== undefined || config.registryCredentialSecrets.length > 0;
  const secrets = usesSecrets ? new CachedSecrets(awsAdapters().secrets(), config.secretCacheMs) : undefined;
  const credentialStore = secrets
    ? new SecretCredentialStore(config.registryCredentialSecrets, secrets, (message) =>
        log.warn('registry credential secret unusable', { error: message }),
      )
    : undefined;
  // ECR needs only the function's role; its client is created on the first ECR image.
  let ecr: ReturnType<AwsAdapters['ecrCredentials']> | undefined;
  const ecrFor = (registry: string) =>
    aws && ECR_HOST.test(registry) ? (ecr ??= awsAdapters().ecrCredentials()) : undefined;
  const undici = options.transport ? undefined : new UndiciTransport();
  const transport = options.transport ?? undici!;
  const client = new RegistryClient({
    transport,
    insecureRegistries: config.insecureRegistries,
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
  const provider = new RefreshingPolicyProvider(store, {
    refreshMs: config.policyRefreshMs,
    events: {
      loaded: (details) => log.info('policy set loaded', { location: store.location, ...details }),
      failed: (details) => log.error('policy set not loaded', { location: store.location, ...details }),
    },
  });

  return {
    policies: withCredentialSecrets(provider, credentialStore),
    images: new RegistryImageSource(client, { tagCacheMs: config.tagCacheMs }),
    cache: new VerificationCache(config.verificationCache),
    log,
    tokens:
      config.clusterTokenSecret && secrets
        ? new ClusterTokens(config.clusterTokenSecret, secrets)
        : undefined,
    close: async () => undici?.close(),
  };
}

/** Registry-credential secrets named by policies join the configured ones. */
function withCredentialSecrets(
  provider: PolicyProvider,
  store: SecretCredentialStore | undefined,
): PolicyProvider {
  if (!store) return provider;
  return {
    current: async (cluster?: string): Promise<PolicySet> => {
      const set = await provider.current(cluster);
      for (const policy of set.policies) {
        for (const rule of policy.rules) {
          for (const entry of rule.verifyImages) store.addSecrets(entry.credentialSecrets);
        }
      }
      return set;
    },
  };
}
