import { describeError, ImagegateError } from '../errors';
import type { CachedSecrets } from '../secrets';
import type { CredentialLookup, RegistryCredential } from '../ports';

/** A registry-credential secret that is not a Docker config JSON. */
export class CredentialSecretError extends ImagegateError<'INVALID_CREDENTIAL_SECRET'> {}

/** `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`: account and region. */
export const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The registry host a Docker config `auths` key names: `https://index.docker.io/v1/` ->
 * `docker.io`, `https://ghcr.io` -> `ghcr.io`, `127.0.0.1:5000` stays.
 */
export function registryHostOf(authKey: string): string {
  const host =
    authKey
      .replace(/^[a-z]+:\/\//i, '')
      .split('/')[0]
      ?.toLowerCase() ?? '';
  return DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host;
}

/**
 * Reads a Docker config JSON (`{"auths": {host: {auth | username+password | identitytoken}}}`,
 * as in an imagePullSecret) into credentials per exact registry host.
 */
export function parseDockerConfig(text: string, secretId: string): Map<string, RegistryCredential> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new CredentialSecretError('INVALID_CREDENTIAL_SECRET', `secret ${secretId} is not JSON`, {
      cause: error,
    });
  }
  const auths = (document as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null) {
    throw new CredentialSecretError('INVALID_CREDENTIAL_SECRET', `secret ${secretId} has no "auths" map`);
  }
  const credentials = new Map<string, RegistryCredential>();
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const credential = credentialOf(entry);
    if (!credential) {
      throw new CredentialSecretError(
        'INVALID_CREDENTIAL_SECRET',
        `secret ${secretId}: auths entry for ${registryHostOf(key)} has no auth, username/password or identitytoken`,
      );
    }
    credentials.set(registryHostOf(key), credential);
  }
  return credentials;
}

function credentialOf(entry: unknown): RegistryCredential | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const { auth, username, password, identitytoken } = entry as Record<string, unknown>;
  if (typeof identitytoken === 'string' && identitytoken) return { identityToken: identitytoken };
  if (typeof username === 'string' && typeof password === 'string') return { username, password };
  if (typeof auth === 'string' && auth) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

/**
 * Registry credentials from Docker config secrets. A credential is handed out only for the exact
 * host its `auths` key names. Secrets are cached (see {@link CachedSecrets}); `invalidate`
 * re-reads them after a registry refused a credential.
 */
export class SecretCredentialStore {
  private readonly secretIds = new Set<string>();

  constructor(
    secretIds: Iterable<string>,
    private readonly secrets: CachedSecrets,
    private readonly onError: (message: string) => void = () => undefined,
  ) {
    for (const id of secretIds) this.secretIds.add(id);
  }

  /** Adds secrets named by policies (`imageRegistryCredentials.secrets`). */
  addSecrets(ids: Iterable<string>): void {
    for (const id of ids) this.secretIds.add(id);
  }

  readonly lookup: CredentialLookup = async (registry) => {
    for (const id of this.secretIds) {
      try {
        const credential = parseDockerConfig(await this.secrets.read(id), id).get(registry);
        if (credential) return credential;
      } catch (error) {
        // One unreadable secret must not hide the credentials in the others.
        this.onError(describeError(error));
      }
    }
    return undefined;
  };

  /** Forces the next lookup to re-read every secret; false when they were read moments ago. */
  invalidate(): boolean {
    let refreshed = false;
    for (const id of this.secretIds) refreshed = this.secrets.refresh(id, 5_000) || refreshed;
    return refreshed;
  }
}
