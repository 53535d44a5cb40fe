import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { RegistryContentError, RegistryError } from './errors';
import type { RegistryTransport, TransportResponse } from './transport';
import { distributionRepository } from './reference';

/** Manifest and index media types imagegate understands, sent in every manifest `Accept`. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

/** The OCI image index media type: what the referrers API and its fallback tag answer with. */
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/** Statuses with which a registry says it has no referrers API (go-containerregistry falls back on them). */
const REFERRERS_UNSUPPORTED = new Set([400, 404, 405, 406, 501]);

/** Credentials for one registry host, as in a Docker config `auths` entry. */
export type RegistryCredential =
  { readonly username: string; readonly password: string } | { readonly identityToken: string };

/** Port: the credentials for exactly this registry host, if any. */
export type CredentialLookup = (registry: string) => Promise<RegistryCredential | undefined>;

export interface RegistryClientOptions {
  readonly transport: RegistryTransport;
  readonly credentials?: CredentialLookup;
  /** Called when the registry refused our credentials; true when fresh ones can be tried once. */
  readonly refreshCredentials?: (registry: string) => boolean;
  /** Registries (host[:port]) spoken to over plain HTTP. Every other registry uses HTTPS. */
  readonly insecureRegistries?: Iterable<string>;
  readonly maxManifestBytes?: number;
  readonly now?: () => number;
}

/** A manifest whose bytes were checked against their digest. */
export interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly json: Record<string, unknown>;
}

/** A Bearer token and how long it may be sent. */
interface IssuedToken {
  /** The whole `Authorization` header value: `Bearer <token>`. */
  readonly value: string;
  readonly lifetimeMs: number;
}

/** Bounds of the Bearer-token cache and of what a token service may hand out. */
export const TOKEN_CACHE_LIMITS = {
  /** Tokens kept (one per registry origin and repository scope); the least recently used go first. */
  maxEntries: 1_000,
  /** Characters of keys and tokens kept, all entries together. */
  maxBytes: 4 * 1024 * 1024,
  /** The longest token accepted from a token service (longer: the image could not be checked). */
  maxTokenChars: 8 * 1024,
  /** The longest a token is kept, whatever `expires_in` says. */
  maxLifetimeS: 3_600,
} as const;

const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_BYTES = 64 * 1024;
const MAX_REDIRECTS = 3;
/** The registry's own challenge, one re-read of refused credentials, one redirect target's challenge. */
const MAX_AUTHORIZATION_ROUNDS = 3;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const TOKEN_EXPIRY_MARGIN_MS = 5_000;
/** RFC 6750 b64token and the opaque tokens registries hand out: visible ASCII, no spaces. */
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

/**
 * OCI distribution client: manifests and blobs by tag or digest, with the anonymous and
 * credentialed bearer-token flow and basic auth. Every manifest and blob is checked against
 * its digest before it is returned.
 */
export class RegistryClient {
  private readonly transport: RegistryTransport;
  private readonly credentials: CredentialLookup;
  private readonly credentialsRefreshed: (registry: string) => boolean;
  private readonly insecure: ReadonlySet<string>;
  private readonly maxManifestBytes: number;
  private readonly now: () => number;
  /** `Bearer …` header values by the origin they are sent to and scope (see {@link tokenKey}). */
  private readonly tokens: LRUCache<string, string>;

  constructor(options: RegistryClientOptions) {
    this.transport = options.transport;
    this.credentials = options.credentials ?? (() => Promise.resolve(undefined));
    this.credentialsRefreshed = options.refreshCredentials ?? (() => false);
    this.insecure = new Set(options.insecureRegistries ?? []);
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    this.now = options.now ?? Date.now;
    this.tokens = new LRUCache<string, string>({
      max: TOKEN_CACHE_LIMITS.maxEntries,
      maxSize: TOKEN_CACHE_LIMITS.maxBytes,
      sizeCalculation: (value, key) => value.length + key.length,
      ttl: DEFAULT_TOKEN_LIFETIME_S * 1000,
      // Expired tokens are dropped when read and swept on every insertion; no timers.
      ttlAutopurge: false,
      ttlResolution: 0,
      perf: { now: () => this.now() },
    });
  }

  /** What the Bearer-token cache holds now (entries, and characters of keys and tokens). */
  tokenCacheSize(): { entries: number; bytes: number } {
    return { entries: this.tokens.size, bytes: this.tokens.calculatedSize };
  }

  /**
   * Fetches a manifest by tag or digest; `undefined` when the registry says it does not exist.
   * The digest returned is sha256 of the bytes received.
   */
  async getManifest(
    registry: string,
    repository: string,
    reference: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest | undefined> {
    const response = await this.get(registry, repository, `manifests/${reference}`, {
      accept: MANIFEST_MEDIA_TYPES.join(', '),
      maxBytes: this.maxManifestBytes,
      signal,
    });
    if (response.status === 404) return undefined;
    this.expectOk(registry, response, `manifest ${repository}:${reference}`);

    const digest = sha256Digest(response.body);
    const announced = response.headers['docker-content-digest'];
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new RegistryContentError(
        'DIGEST_MISMATCH',
        registry,
        `registry ${registry} served manifest bytes with digest ${digest} for ${repository}@${reference}`,
      );
    }
    if (announced?.startsWith('sha256:') && announced !== digest) {
      throw new RegistryContentError(
        'DIGEST_MISMATCH',
        registry,
        `registry ${registry} announced digest ${announced} but served bytes with digest ${digest}`,
      );
    }

    const json = parseJsonObject(response.body, registry, `manifest ${repository}:${reference}`);
    const contentType = response.headers['content-type']?.split(';')[0]?.trim();
    const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType;
    if (!mediaType || !(MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
      throw new RegistryContentError(
        'UNEXPECTED_MEDIA_TYPE',
        registry,
        `registry ${registry} served ${repository}:${reference} with unexpected media type ${mediaType ?? '(none)'}`,
      );
    }
    return { digest, mediaType, bytes: response.body, json };
  }

  /** Fetches a blob and checks it against `digest`. */
  async getBlob(
    registry: string,
    repository: string,
    digest: string,
    maxBytes: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const response = await this.get(registry, repository, `blobs/${digest}`, { maxBytes, signal });
    this.expectOk(registry, response, `blob ${repository}@${digest}`);
    const actual = sha256Digest(response.body);
    if (actual !== digest) {
      throw new RegistryContentError(
        'DIGEST_MISMATCH',
        registry,
        `registry ${registry} served blob bytes with digest ${actual} for ${repository}@${digest}`,
      );
    }
    return response.body;
  }

  /**
   * Lists the referrers of `digest` with the OCI 1.1 referrers API
   * (`GET /v2/<name>/referrers/<digest>`). `undefined` when the registry does not offer the API
   * (404, 400, 405, 406 or 501, or an answer that is not an OCI index), so that the caller falls
   * back to the `sha256-<hex>` tag, as go-containerregistry does. The listing is not
   * content-addressed: each manifest it names is fetched (and digest-checked) separately.
   */
  async listReferrers(
    registry: string,
    repository: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest | undefined> {
    const response = await this.get(registry, repository, `referrers/${digest}`, {
      accept: OCI_INDEX_MEDIA_TYPE,
      maxBytes: this.maxManifestBytes,
      signal,
    });
    if (REFERRERS_UNSUPPORTED.has(response.status)) return undefined;
    this.expectOk(registry, response, `referrers of ${repository}@${digest}`);
    const contentType = response.headers['content-type']?.split(';')[0]?.trim();
    if (contentType !== OCI_INDEX_MEDIA_TYPE) return undefined;
    const json = parseJsonObject(response.body, registry, `referrers list of ${repository}@${digest}`);
    return {
      digest: sha256Digest(response.body),
      mediaType: OCI_INDEX_MEDIA_TYPE,
      bytes: response.body,
      json,
    };
  }

  private expectOk(registry: string, response: TransportResponse, what: string): void {
    if (response.status === 200) return;
    if (response.status === 401 || response.status === 403) {
      throw new RegistryError('REGISTRY_AUTH', registry, `registry ${registry} refused access to ${what}`, {
        status: response.status,
      });
    }
    throw new RegistryError(
      'REGISTRY_HTTP',
      registry,
      `registry ${registry} answered HTTP ${response.status} for ${what}`,
      { status: response.status },
    );
  }

  private baseUrl(registry: string): string {
    const scheme = this.insecure.has(registry) ? 'http' : 'https';
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    return `${scheme}://${host}`;
  }

  private async get(
    registry: string,
    repository: string,
    path: string,
    options: { accept?: string; maxBytes: number; signal?: AbortSignal | undefined },
  ): Promise<TransportResponse> {
    // Docker Hub serves official images under library/ (`nginx` at /v2/library/nginx/…).
    const name = distributionRepository(registry, repository);
    const url = new URL(`${this.baseUrl(registry)}/v2/${name}/${path}`);
    const scope = `repository:${name}:pull`;
    const headers: Record<string, string> = {};
    if (options.accept) headers.accept = options.accept;

    // Each request carries only the Authorization earned from its own origin: the registry's
    // token never reaches a redirect target, and a redirect target's never reaches the registry.
    const authorizations = new Map<string, string>();
    const cached = this.tokens.get(tokenKey(url.origin, scope));
    if (cached) authorizations.set(url.origin, cached);

    let answer = await this.follow(url, headers, authorizations, options.maxBytes, options.signal);
    const challenged = new Set<string>();
    let refreshed = false;
    for (let round = 0; answer.response.status === 401 && round < MAX_AUTHORIZATION_ROUNDS; round++) {
      const origin = answer.url.origin;
      // Only a challenge from the registry's own origin is answered with its credentials; a
      // redirect target (another host, or the same host on another scheme or port) gets none.
      const own = origin === url.origin;
      if (challenged.has(origin)) {
        // A second round only when a refused credential could be re-read (rotated secret, expired ECR token).
        if (!own || refreshed || !this.credentialsRefreshed(registry)) break;
        refreshed = true;
      }
      challenged.add(origin);
      const token = await this.authorize(registry, scope, answer, own, options.signal);
      if (!token) break;
      authorizations.set(origin, token.value);
      // Tokens from a redirect target are used once and not kept: they were issued anonymously
      // for a host the registry chose, and must not stand in for that host's own credentials.
      if (own && token.lifetimeMs > 0) {
        this.tokens.purgeStale();
        this.tokens.set(tokenKey(origin, scope), token.value, { ttl: token.lifetimeMs });
      }
      answer = await this.follow(url, headers, authorizations, options.maxBytes, options.signal);
    }
    return answer.response;
  }

  /**
   * GET with redirects. Each hop carries `authorizations.get(origin)` for its own origin and
   * nothing else; the answer says which URL it came from.
   */
  private async follow(
    start: URL,
    headers: Readonly<Record<string, string>>,
    authorizations: ReadonlyMap<string, string>,
    maxBytes: number,
    signal: AbortSignal | undefined,
  ): Promise<{ response: TransportResponse; url: URL }> {
    let url = start;
    for (let hop = 0; ; hop++) {
      const authorization = authorizations.get(url.origin);
      const response = await this.transport.send({
        method: 'GET',
        url,
        headers: authorization ? { ...headers, authorization } : headers,
        maxBytes,
        signal,
      });
      const location = response.headers.location;
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return { response, url };
      if (hop >= MAX_REDIRECTS) {
        throw new RegistryError(
          'REGISTRY_HTTP',
          start.host,
          `registry ${start.host} redirected too many times`,
          {
            status: response.status,
          },
        );
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (error) {
        throw new RegistryError(
          'REGISTRY_HTTP',
          start.host,
          `registry ${start.host} redirected to an invalid URL`,
          {
            cause: error,
            status: response.status,
          },
        );
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryError(
          'REGISTRY_HTTP',
          start.host,
          `registry ${start.host} redirected to ${next.protocol}`,
        );
      }
      url = next;
    }
  }

  /**
   * Answers a 401 challenge: a Bearer token from the realm, or Basic credentials. `own` says the
   * challenge came from the registry's own origin; only then are its credentials looked up, and
   * they go only to that origin (Basic) or to the realm its challenge names (Bearer).
   */
  private async authorize(
    registry: string,
    scope: string,
    challenged: { response: TransportResponse; url: URL },
    own: boolean,
    signal: AbortSignal | undefined,
  ): Promise<IssuedToken | undefined> {
    const challenge = parseChallenge(challenged.response.headers['www-authenticate'] ?? '');
    const credential = own
      ? await this.credentials(registry).catch((error: unknown) => {
          throw new RegistryError(
            'REGISTRY_AUTH',
            registry,
            `credentials for registry ${registry} could not be obtained: ${(error as Error).message}`,
            { cause: error },
          );
        })
      : undefined;
    // Named in messages: the registry, or the redirect target that challenged.
    const issuer = own ? registry : `${registry}'s redirect target ${challenged.url.host}`;
    const challenger = own ? registry : `${challenged.url.host} (a redirect target of registry ${registry})`;
    if (challenge?.scheme === 'basic') {
      return credential && 'username' in credential
        ? { value: basicAuth(credential), lifetimeMs: 0 }
        : undefined;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) return undefined;

    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw new RegistryError(
        'REGISTRY_AUTH',
        registry,
        `registry ${challenger} named an invalid token realm`,
      );
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.insecure.has(realm.host))) {
      throw new RegistryError(
        'REGISTRY_AUTH',
        registry,
        `registry ${challenger} named a token realm over plain HTTP (${realm.host}) that is not an insecure registry`,
      );
    }
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', scope);

    // The realm named in the registry's own challenge is its token service; credentials go there
    // only when it is the same host or reached over HTTPS, never over plain HTTP to a foreign host.
    const mayCredential = credential && (realm.host === registry || realm.protocol === 'https:');
    const response =
      mayCredential && 'identityToken' in credential
        ? await this.transport.send({
            method: 'POST',
            url: new URL(realm.origin + realm.pathname),
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'refresh_token',
              refresh_token: credential.identityToken,
              service: challenge.params.service ?? '',
              scope,
              client_id: 'imagegate',
            }).toString(),
            maxBytes: MAX_TOKEN_BYTES,
            signal,
          })
        : await this.transport.send({
            method: 'GET',
            url: realm,
            headers:
              mayCredential && 'username' in credential ? { authorization: basicAuth(credential) } : {},
            maxBytes: MAX_TOKEN_BYTES,
            signal,
          });
    if (response.status !== 200) {
      throw new RegistryError(
        'REGISTRY_AUTH',
        registry,
        `token service of registry ${issuer} answered HTTP ${response.status}`,
        { status: response.status },
      );
    }
    const body = parseJsonObject(response.body, registry, 'token response');
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token.length === 0) {
      throw new RegistryError(
        'REGISTRY_AUTH',
        registry,
        `token service of registry ${issuer} returned no token`,
      );
    }
    if (token.length > TOKEN_CACHE_LIMITS.maxTokenChars || !TOKEN_CHARACTERS.test(token)) {
      throw new RegistryError(
        'REGISTRY_AUTH',
        registry,
        token.length > TOKEN_CACHE_LIMITS.maxTokenChars
          ? `token service of registry ${issuer} returned a token longer than ${TOKEN_CACHE_LIMITS.maxTokenChars} characters`
          : `token service of registry ${issuer} returned a token with characters a header cannot carry`,
      );
    }
    return { value: `Bearer ${token}`, lifetimeMs: tokenLifetimeMs(body.expires_in) };
  }
}

/** The token cache key: the origin a token is sent to (never another) and the scope it grants. */
function tokenKey(origin: string, scope: string): string {
  return `${origin}|${scope}`;
}

/** How long a token may be reused: `expires_in` (default 60 s, at most 1 h) less 5 s; 0 = do not keep. */
function tokenLifetimeMs(expiresIn: unknown): number {
  const seconds =
    typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
      ? Math.min(expiresIn, TOKEN_CACHE_LIMITS.maxLifetimeS)
      : DEFAULT_TOKEN_LIFETIME_S;
  return Math.max(0, Math.floor(seconds * 1000 - TOKEN_EXPIRY_MARGIN_MS));
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function basicAuth(credential: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
}

interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses the first challenge of a `WWW-Authenticate` header. */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const param of (match[2] ?? '').matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    const name = param[1]?.toLowerCase();
    if (name) params[name] = (param[2] ?? param[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: (match[1] ?? '').toLowerCase(), params };
}

function parseJsonObject(bytes: Uint8Array, registry: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new RegistryContentError(
      'MALFORMED',
      registry,
      `registry ${registry} sent a ${what} that is not JSON`,
      {
        cause: error,
      },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RegistryContentError(
      'MALFORMED',
      registry,
      `registry ${registry} sent a ${what} that is not a JSON object`,
    );
  }
  return value as Record<string, unknown>;
}
