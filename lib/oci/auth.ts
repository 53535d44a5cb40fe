import { LRUCache } from 'lru-cache';
import { describeError } from '../errors';
import { RegistryError } from '../model/registry-errors';
import { parseJsonObject } from './json-object';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../ports';
import type { CredentialLookup, RegistryCredential } from '../ports';

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

const MAX_TOKEN_BYTES = 64 * 1024;
/** The registry's own challenge, one re-read of refused credentials, one redirect target's challenge. */
const MAX_AUTHORIZATION_ROUNDS = 3;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const TOKEN_EXPIRY_MARGIN_MS = 5_000;
/** RFC 6750 b64token and the opaque tokens registries hand out: visible ASCII, no spaces. */
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

export interface RegistryAuthOptions {
  /** Sends the registry reads (redirects followed, see redirects.ts); each answer names its URL. */
  readonly reads: RegistryTransport;
  /** Sends token-service requests (never redirected). */
  readonly tokens: RegistryTransport;
  readonly credentials?: CredentialLookup;
  /** Called when the registry refused our credentials; true when fresh ones can be tried once. */
  readonly refreshCredentials?: (registry: string) => boolean;
  /** Hosts a plain-HTTP token realm may be on (the insecure registries). */
  readonly insecure: ReadonlySet<string>;
  readonly now: () => number;
}

/** A GET of one registry, before authorization: the URL, scope and what the answer may hold. */
export interface RegistryRead {
  readonly registry: string;
  /** `repository:<name>:pull`: what the token is asked for, and the cache key with the origin. */
  readonly scope: string;
  readonly request: Omit<TransportRequest, 'method' | 'authorizations'>;
}

/** A Bearer token and how long it may be sent. */
interface IssuedToken {
  /** The whole `Authorization` header value: `Bearer <token>`. */
  readonly value: string;
  readonly lifetimeMs: number;
}

/** What bounds the read a token is fetched for; its token requests carry the same. */
type ReadLimits = Pick<TransportRequest, 'signal' | 'deadline' | 'budget'>;

interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * The registry auth flow (distribution token auth and Basic): sends a read, answers 401
 * challenges with a Bearer token from the challenge's realm (anonymous, Basic credentials, or an
 * OAuth2 refresh token) or with Basic credentials, and keeps Bearer tokens per origin and scope
 * until they expire. Credentials are looked up only for a challenge from the registry's own origin.
 */
export class RegistryAuth {
  private readonly reads: RegistryTransport;
  private readonly tokenTransport: RegistryTransport;
  private readonly credentials: CredentialLookup;
  private readonly credentialsRefreshed: (registry: string) => boolean;
  private readonly insecure: ReadonlySet<string>;
  /** `Bearer …` header values by the origin they are sent to and scope (see {@link tokenKey}). */
  private readonly tokens: LRUCache<string, string>;

  constructor(options: RegistryAuthOptions) {
    this.reads = options.reads;
    this.tokenTransport = options.tokens;
    this.credentials = options.credentials ?? (() => Promise.resolve(undefined));
    this.credentialsRefreshed = options.refreshCredentials ?? (() => false);
    this.insecure = options.insecure;
    const now = options.now;
    this.tokens = new LRUCache<string, string>({
      max: TOKEN_CACHE_LIMITS.maxEntries,
      maxSize: TOKEN_CACHE_LIMITS.maxBytes,
      sizeCalculation: (value, key) => value.length + key.length,
      ttl: DEFAULT_TOKEN_LIFETIME_S * 1000,
      // Expired tokens are dropped when read and swept on every insertion; no timers.
      ttlAutopurge: false,
      ttlResolution: 0,
      perf: { now },
    });
  }

  /** What the Bearer-token cache holds now (entries, and characters of keys and tokens). */
  tokenCacheSize(): { entries: number; bytes: number } {
    return { entries: this.tokens.size, bytes: this.tokens.calculatedSize };
  }

  /** Sends `read`, answering the challenges of its origins; the last answer, 401 included. */
  async get(read: RegistryRead): Promise<TransportResponse> {
    const { registry, scope } = read;
    const start = read.request.url;
    // Each request carries only the Authorization earned from its own origin.
    const authorizations = new Map<string, string>();
    const cached = this.tokens.get(tokenKey(start.origin, scope));
    if (cached) authorizations.set(start.origin, cached);
    const send = () => this.reads.send({ ...read.request, method: 'GET', authorizations });

    let answer = await send();
    const challenged = new Set<string>();
    let refreshed = false;
    for (let round = 0; answer.status === 401 && round < MAX_AUTHORIZATION_ROUNDS; round++) {
      const url = answer.url ?? start;
      // Only a challenge from the registry's own origin is answered with its credentials; a
      // redirect target (another host, or the same host on another scheme or port) gets none.
      const own = url.origin === start.origin;
      if (challenged.has(url.origin)) {
        // A second round only when a refused credential could be re-read (rotated secret, expired ECR token).
        if (!own || refreshed || !this.credentialsRefreshed(registry)) break;
        refreshed = true;
      }
      challenged.add(url.origin);
      const { signal, deadline, budget } = read.request;
      const token = await this.answer(registry, scope, { response: answer, url }, own, {
        signal,
        deadline,
        budget,
      });
      if (!token) break;
      authorizations.set(url.origin, token.value);
      // Tokens from a redirect target are used once and not kept: they were issued anonymously
      // for a host the registry chose, and must not stand in for that host's own credentials.
      if (own && token.lifetimeMs > 0) {
        this.tokens.purgeStale();
        this.tokens.set(tokenKey(url.origin, scope), token.value, { ttl: token.lifetimeMs });
      }
      answer = await send();
    }
    return answer;
  }

  /**
   * Answers a 401 challenge: a Bearer token from the realm, or Basic credentials. `own` says the
   * challenge came from the registry's own origin; only then are its credentials looked up, and
   * they go only to that origin (Basic) or to the realm its challenge names (Bearer).
   */
  private async answer(
    registry: string,
    scope: string,
    challenged: { response: TransportResponse; url: URL },
    own: boolean,
    limits: ReadLimits,
  ): Promise<IssuedToken | undefined> {
    const challenge = parseChallenge(challenged.response.headers['www-authenticate'] ?? '');
    const credential = own ? await this.lookUp(registry) : undefined;
    if (challenge?.scheme === 'basic') {
      return credential && 'username' in credential
        ? { value: basicAuth(credential), lifetimeMs: 0 }
        : undefined;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) return undefined;
    // Named in messages: the registry, or the redirect target that challenged.
    const issuer = own ? registry : `${registry}'s redirect target ${challenged.url.host}`;
    const challenger = own ? registry : `${challenged.url.host} (a redirect target of registry ${registry})`;
    const realm = this.realmOf(registry, challenger, challenge, scope);
    // The realm named in the registry's own challenge is its token service; credentials go there
    // only when it is the same host or reached over HTTPS, never over plain HTTP to a foreign host.
    const mayCredential = credential && (realm.host === registry || realm.protocol === 'https:');
    const response =
      mayCredential && 'identityToken' in credential
        ? await this.fetchOAuth2Token(realm, credential.identityToken, challenge, scope, limits)
        : await this.fetchDistributionToken(
            realm,
            mayCredential && 'username' in credential ? credential : undefined,
            limits,
          );
    return readToken(registry, issuer, response);
  }

  private lookUp(registry: string): Promise<RegistryCredential | undefined> {
    return this.credentials(registry).catch((error: unknown) => {
      throw new RegistryError(
        'REGISTRY_AUTH',
        registry,
        `credentials for registry ${registry} could not be obtained: ${describeError(error)}`,
        { cause: error },
      );
    });
  }

  /** The token service URL a Bearer challenge names, with `service` and `scope`; refused unless HTTPS or insecure. */
  private realmOf(registry: string, challenger: string, challenge: Challenge, scope: string): URL {
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? '');
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
    return realm;
  }

  /** Docker's token flow: GET the realm, anonymously or with Basic credentials. */
  private fetchDistributionToken(
    realm: URL,
    credential: { username: string; password: string } | undefined,
    limits: ReadLimits,
  ): Promise<TransportResponse> {
    return this.tokenTransport.send({
      method: 'GET',
      url: realm,
      headers: credential ? { authorization: basicAuth(credential) } : {},
      maxBytes: MAX_TOKEN_BYTES,
      ...limits,
    });
  }

  /** The OAuth2 flow for an identity token (a refresh token): POST to the realm, never retried. */
  private fetchOAuth2Token(
    realm: URL,
    refreshToken: string,
    challenge: Challenge,
    scope: string,
    limits: ReadLimits,
  ): Promise<TransportResponse> {
    return this.tokenTransport.send({
      method: 'POST',
      url: new URL(realm.origin + realm.pathname),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        service: challenge.params.service ?? '',
        scope,
        client_id: 'imagegate',
      }).toString(),
      maxBytes: MAX_TOKEN_BYTES,
      ...limits,
    });
  }
}

/** The token in a token service's answer, checked to fit a header and the cache. */
function readToken(registry: string, issuer: string, response: TransportResponse): IssuedToken {
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

function basicAuth(credential: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
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
