/**
 * Where the registry client sends credentials and tokens (after redirects too), and the bounds of
 * its Bearer-token cache. A recording transport stands in for the network.
 */
import { createHash } from 'node:crypto';
import { RegistryError } from '../../../lib/model/registry-errors';
import { TOKEN_CACHE_LIMITS } from '../../../lib/oci/auth';
import { RegistryClient } from '../../../lib/oci/registry';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';

const REGISTRY = 'registry.example';
const OTHER = 'other.example';
const PASSWORD = 'registry-password-9c1e';
const BASIC = `Basic ${Buffer.from(`puller:${PASSWORD}`).toString('base64')}`;
const BODY = Buffer.from('blob bytes');
const DIGEST = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;
const empty = Buffer.alloc(0);

type Route = (request: TransportRequest) => TransportResponse;

/** Answers with `route`, recording every request (method, URL, Authorization, body). */
function recording(route: Route): RegistryTransport & { sent: TransportRequest[] } {
  const sent: TransportRequest[] = [];
  return {
    sent,
    send: (request) => {
      sent.push(request);
      return Promise.resolve(route(request));
    },
  };
}

const json = (value: unknown): TransportResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(value)),
});
const challenge = (value: string): TransportResponse => ({
  status: 401,
  headers: { 'www-authenticate': value },
  body: empty,
});

/**
 * A registry whose token service (on its own host) hands out `registry-token` for the puller's
 * Basic credentials, and whose blob endpoint redirects, with that token, to `location`.
 */
function registryRedirectingTo(location: string, other: Route): Route {
  return (request) => {
    const { host, pathname } = request.url;
    if (host !== REGISTRY) return other(request);
    if (pathname === '/token') {
      return request.headers.authorization === BASIC ? json({ token: 'registry-token' }) : challenge('Basic');
    }
    if (request.headers.authorization !== 'Bearer registry-token') {
      return challenge(`Bearer realm="https://${REGISTRY}/token",service="${REGISTRY}"`);
    }
    return { status: 307, headers: { location }, body: empty };
  };
}

function client(transport: RegistryTransport, now?: () => number): RegistryClient {
  return new RegistryClient({
    transport,
    credentials: (registry) =>
      Promise.resolve(registry === REGISTRY ? { username: 'puller', password: PASSWORD } : undefined),
    ...(now ? { now } : {}),
  });
}

const seenBy = (transport: { sent: TransportRequest[] }, host: string) =>
  transport.sent
    .filter((request) => request.url.host === host)
    .map((request) => `${request.method} ${request.url.pathname} ${request.headers.authorization ?? '-'}`);

describe('credentials go only to the host they name, after redirects too', () => {
  test('a redirect target that challenges with Bearer gets an anonymous token from its realm, never the registry’s credential or token', async () => {
    const transport = recording(
      registryRedirectingTo(`https://${OTHER}/storage/blob`, (request) => {
        if (request.url.pathname === '/token') return json({ token: 'other-anonymous-token' });
        return request.headers.authorization === 'Bearer other-anonymous-token'
          ? { status: 200, headers: {}, body: BODY }
          : challenge(`Bearer realm="https://${OTHER}/token",service="${OTHER}"`);
      }),
    );
    await expect(client(transport).getBlob(REGISTRY, 'team/app', DIGEST, 1024)).resolves.toEqual(BODY);
    expect(seenBy(transport, OTHER)).toEqual([
      'GET /storage/blob -',
      'GET /token -',
      'GET /storage/blob Bearer other-anonymous-token',
    ]);
    expect(seenBy(transport, REGISTRY)).toEqual([
      `GET /v2/team/app/blobs/${DIGEST} -`,
      `GET /token ${BASIC}`,
      `GET /v2/team/app/blobs/${DIGEST} Bearer registry-token`,
      `GET /v2/team/app/blobs/${DIGEST} Bearer registry-token`,
    ]);
  });

  test('an identity token (refresh token) is never posted to a redirect target’s realm', async () => {
    const transport = recording((request): TransportResponse => {
      const { host, pathname } = request.url;
      if (pathname === '/token') return json({ token: `${host}-token` });
      if (host === REGISTRY && request.headers.authorization === `Bearer ${REGISTRY}-token`) {
        return {
          status: 302,
          headers: { location: `https://${OTHER}/v2/team/app/blobs/${DIGEST}` },
          body: empty,
        };
      }
      if (host === OTHER && request.headers.authorization === `Bearer ${OTHER}-token`) {
        return { status: 200, headers: {}, body: BODY };
      }
      return challenge(`Bearer realm="https://${host}/token",service="${host}"`);
    });
    const registryClient = new RegistryClient({
      transport,
      credentials: () => Promise.resolve({ identityToken: 'refresh-token-secret' }),
    });
    await expect(registryClient.getBlob(REGISTRY, 'team/app', DIGEST, 1024)).resolves.toEqual(BODY);
    const posts = transport.sent.filter((request) => request.method === 'POST');
    expect(posts.map((request) => request.url.host)).toEqual([REGISTRY]);
    expect(transport.sent.filter((request) => request.body?.includes('refresh-token-secret'))).toHaveLength(
      1,
    );
    expect(seenBy(transport, OTHER)).toEqual([
      `GET /v2/team/app/blobs/${DIGEST} -`,
      'GET /token -',
      `GET /v2/team/app/blobs/${DIGEST} Bearer ${OTHER}-token`,
    ]);
  });

  test('a redirect target that challenges with Basic gets no Authorization at all', async () => {
    const transport = recording(
      registryRedirectingTo(`https://${OTHER}/storage/blob`, () => challenge('Basic realm="other"')),
    );
    await expect(client(transport).getBlob(REGISTRY, 'team/app', DIGEST, 1024)).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      message: `registry ${REGISTRY} refused access to blob team/app@${DIGEST}`,
    });
    expect(seenBy(transport, OTHER)).toEqual(['GET /storage/blob -']);
  });

  test('the same host on another scheme or port is another origin: it gets nothing', async () => {
    for (const location of [`http://${REGISTRY}/v2/team/app/blobs/${DIGEST}`, `https://${REGISTRY}:8443/b`]) {
      const target = new URL(location);
      const transport = recording((request) => {
        if (request.url.origin === target.origin) return challenge('Basic realm="r"');
        return registryRedirectingTo(location, () => challenge('Basic'))(request);
      });
      await expect(client(transport).getBlob(REGISTRY, 'team/app', DIGEST, 1024)).rejects.toBeInstanceOf(
        RegistryError,
      );
      const toTarget = transport.sent.filter((request) => request.url.origin === target.origin);
      expect(toTarget.map((request) => request.headers.authorization)).toEqual([undefined]);
    }
  });

  test('the registry’s own Bearer challenge may name a token service on another host: the credential goes there over HTTPS', async () => {
    const transport = recording((request) => {
      if (request.url.host === 'auth.example') {
        return request.headers.authorization === BASIC ? json({ token: 't' }) : challenge('Basic');
      }
      return request.headers.authorization === 'Bearer t'
        ? { status: 200, headers: {}, body: BODY }
        : challenge(`Bearer realm="https://auth.example/token",service="${REGISTRY}"`);
    });
    await expect(client(transport).getBlob(REGISTRY, 'team/app', DIGEST, 1024)).resolves.toEqual(BODY);
    expect(seenBy(transport, 'auth.example')).toEqual([`GET /token ${BASIC}`]);
  });
});

describe('the Bearer-token cache', () => {
  /** A registry that hands out one fresh token per token request, `size` characters long. */
  function tokenRegistry(size = 32, expiresIn?: number) {
    let issued = 0;
    const transport = recording((request) => {
      if (request.url.pathname === '/token') {
        issued++;
        const token = `${issued}`.padStart(size, 't');
        return json(expiresIn === undefined ? { token } : { token, expires_in: expiresIn });
      }
      return request.headers.authorization?.startsWith('Bearer ')
        ? { status: 200, headers: {}, body: BODY }
        : challenge(`Bearer realm="https://${REGISTRY}/token",service="${REGISTRY}"`);
    });
    return { transport, issued: () => issued };
  }

  test('a token is reused for its origin and scope until it expires (expires_in less 5 s)', async () => {
    let now = 1_000_000;
    const { transport, issued } = tokenRegistry(32, 60);
    const registryClient = client(transport, () => now);
    await registryClient.getBlob(REGISTRY, 'team/app', DIGEST, 1024);
    await registryClient.getBlob(REGISTRY, 'team/app', DIGEST, 1024);
    expect(issued()).toBe(1);
    now += 54_000;
    await registryClient.getBlob(REGISTRY, 'team/app', DIGEST, 1024);
    expect(issued()).toBe(1);
    now += 1_001;
    await registryClient.getBlob(REGISTRY, 'team/app', DIGEST, 1024);
    expect(issued()).toBe(2);
  });

  test(`many repositories stay within ${TOKEN_CACHE_LIMITS.maxEntries} entries`, async () => {
    const { transport } = tokenRegistry();
    const registryClient = client(transport);
    for (let index = 0; index < TOKEN_CACHE_LIMITS.maxEntries + 200; index++) {
      await registryClient.getBlob(REGISTRY, `team/app-${index}`, DIGEST, 1024);
    }
    expect(registryClient.tokenCacheSize().entries).toBe(TOKEN_CACHE_LIMITS.maxEntries);
  });

  test(`the largest tokens accepted stay within ${TOKEN_CACHE_LIMITS.maxBytes} bytes`, async () => {
    const { transport } = tokenRegistry(TOKEN_CACHE_LIMITS.maxTokenChars);
    const registryClient = client(transport);
    const fit = Math.floor(TOKEN_CACHE_LIMITS.maxBytes / TOKEN_CACHE_LIMITS.maxTokenChars);
    for (let index = 0; index < fit + 50; index++) {
      await registryClient.getBlob(REGISTRY, `team/app-${index}`, DIGEST, 1024);
    }
    const { entries, bytes } = registryClient.tokenCacheSize();
    expect(bytes).toBeLessThanOrEqual(TOKEN_CACHE_LIMITS.maxBytes);
    expect(entries).toBeLessThan(fit);
  });

  test('expired tokens are evicted, and expires_in is capped at 1 h', async () => {
    let now = 1_000_000;
    const { transport } = tokenRegistry(32, 10 ** 9);
    const registryClient = client(transport, () => now);
    for (let index = 0; index < 10; index++)
      await registryClient.getBlob(REGISTRY, `a-${index}`, DIGEST, 1024);
    expect(registryClient.tokenCacheSize().entries).toBe(10);
    now += TOKEN_CACHE_LIMITS.maxLifetimeS * 1000;
    await registryClient.getBlob(REGISTRY, 'b', DIGEST, 1024);
    expect(registryClient.tokenCacheSize().entries).toBe(1);
  });

  test(`a token longer than ${TOKEN_CACHE_LIMITS.maxTokenChars} characters is refused`, async () => {
    const { transport } = tokenRegistry(TOKEN_CACHE_LIMITS.maxTokenChars + 1);
    const registryClient = client(transport);
    await expect(registryClient.getBlob(REGISTRY, 'team/app', DIGEST, 1024)).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      message: `token service of registry ${REGISTRY} returned a token longer than ${TOKEN_CACHE_LIMITS.maxTokenChars} characters`,
    });
    expect(registryClient.tokenCacheSize().entries).toBe(0);
  });
});
