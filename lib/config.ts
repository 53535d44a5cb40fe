import { ImagegateError } from './errors';
import { HOST_PORT, isLogLevel, isS3BucketName, LOG_LEVELS, type LogLevel } from './model/names.cjs';
import { canonicalRegistry } from './model/image';

/** Where policies come from: a local folder (or file), or an S3 prefix. */
export type PolicySourceConfig =
  | { readonly kind: 'folder'; readonly path: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

/** Everything imagegate reads from its environment, with explicit defaults. */
export interface Config {
  readonly policies: PolicySourceConfig;
  /** Extra trusted_root.json documents (a folder, a file, or an S3 prefix); the public-good root is always included. */
  readonly trustRoots: PolicySourceConfig | undefined;
  readonly policyRefreshMs: number;
  /** How long secret values (tokens, registry credentials) are cached. */
  readonly secretCacheMs: number;
  readonly verificationCache: {
    readonly maxEntries: number;
    readonly passTtlMs: number;
    readonly failTtlMs: number;
  };
  /** How long a tag's digest is reused; it never skips verifying a digest. */
  readonly tagCacheMs: number;
  /** Secrets Manager id of the cluster token map, or a template with `{cluster}`; unset = no token (local use). */
  readonly clusterTokenSecret: string | undefined;
  /** Secrets Manager ids of Docker config JSON secrets with registry credentials. */
  readonly registryCredentialSecrets: readonly string[];
  /** Registries (host[:port]) spoken to over plain HTTP. */
  readonly insecureRegistries: readonly string[];
  /**
   * Registries (host[:port]) that may resolve to loopback, link-local or private addresses (the
   * SSRF guard, lib/oci/address-guard.ts, refuses those otherwise); reached over TLS. Insecure registries
   * are allowed too.
   */
  readonly allowedPrivateRegistries: readonly string[];
  readonly logLevel: LogLevel;
}

export class ConfigError extends ImagegateError<'INVALID_CONFIG'> {}

const SECRET_SCHEME = 'secretsmanager://';

/**
 * Reads imagegate's configuration from environment variables (see the README's table). Throws
 * {@link ConfigError} naming the variable on a bad value.
 */
export function readConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const logLevel = (env.IMAGEGATE_LOG_LEVEL || 'INFO').toUpperCase();
  if (!isLogLevel(logLevel)) {
    throw new ConfigError('INVALID_CONFIG', `IMAGEGATE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const seconds = (name: string, fallback: number): number => {
    const value = Number(env[name] || fallback);
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError('INVALID_CONFIG', `${name} must be a number of seconds >= 0`);
    }
    return value * 1000;
  };
  const count = (name: string, fallback: number): number => {
    const value = Number(env[name] || fallback);
    if (!Number.isInteger(value) || value < 1) {
      throw new ConfigError('INVALID_CONFIG', `${name} must be a whole number >= 1`);
    }
    return value;
  };
  const tokens = env.IMAGEGATE_CLUSTER_TOKENS?.trim();
  return {
    policies: parsePolicySource(env.IMAGEGATE_POLICIES?.trim() || './policies'),
    trustRoots: env.IMAGEGATE_TRUST_ROOTS?.trim()
      ? parsePolicySource(env.IMAGEGATE_TRUST_ROOTS.trim(), 'IMAGEGATE_TRUST_ROOTS')
      : undefined,
    policyRefreshMs: seconds('IMAGEGATE_POLICY_REFRESH_SECONDS', 30),
    secretCacheMs: seconds('IMAGEGATE_SECRET_CACHE_SECONDS', 300),
    verificationCache: {
      maxEntries: count('IMAGEGATE_VERIFY_CACHE_ENTRIES', 10_000),
      passTtlMs: seconds('IMAGEGATE_VERIFY_CACHE_SECONDS', 300),
      failTtlMs: seconds('IMAGEGATE_VERIFY_CACHE_FAIL_SECONDS', 10),
    },
    tagCacheMs: seconds('IMAGEGATE_TAG_CACHE_SECONDS', 5),
    clusterTokenSecret: tokens ? parseSecretRef(tokens, 'IMAGEGATE_CLUSTER_TOKENS') : undefined,
    registryCredentialSecrets: splitList(env.IMAGEGATE_REGISTRY_CREDENTIALS ?? '').map((item) =>
      parseSecretRef(item, 'IMAGEGATE_REGISTRY_CREDENTIALS'),
    ),
    insecureRegistries: parseRegistryList(
      env.IMAGEGATE_INSECURE_REGISTRIES ?? '',
      'IMAGEGATE_INSECURE_REGISTRIES',
    ),
    allowedPrivateRegistries: parseRegistryList(
      env.IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES ?? '',
      'IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES',
    ),
    logLevel,
  };
}

function parsePolicySource(value: string, name = 'IMAGEGATE_POLICIES'): PolicySourceConfig {
  if (!value.startsWith('s3://')) return { kind: 'folder', path: value };
  const rest = value.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  if (!isS3BucketName(bucket))
    throw new ConfigError('INVALID_CONFIG', `${name}: ${value} is not s3://bucket/prefix`);
  return { kind: 's3', bucket, prefix: slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '') };
}

function parseSecretRef(value: string, name: string): string {
  if (!value.startsWith(SECRET_SCHEME) || value.length === SECRET_SCHEME.length) {
    throw new ConfigError(
      'INVALID_CONFIG',
      `${name}: ${JSON.stringify(value)} is not secretsmanager://<secret-id>`,
    );
  }
  return value.slice(SECRET_SCHEME.length);
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Splits a comma-separated list of registry hosts into their canonical form, refusing anything that is not host[:port]. */
export function parseRegistryList(value: string, name: string): string[] {
  return splitList(value).map((host) => {
    // Compared with image references' registries, which are canonical (see canonicalRegistry).
    const canonical = HOST_PORT.test(host) ? canonicalRegistry(host) : undefined;
    if (!canonical) {
      throw new ConfigError('INVALID_CONFIG', `${name}: ${JSON.stringify(host)} is not host[:port]`);
    }
    return canonical;
  });
}
