/**
 * RegistryAuth over a fake transport and a fake clock: the Bearer (anonymous, Basic-credentialed,
 * OAuth2 refresh token) and Basic flows, the token cache's expiry, and the refusals.
 */
import { RegistryAuth, parseChallenge, type RegistryAuthOptions } from '../../../lib/oci/auth';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';
import type { RegistryCredential } from '../../../lib/ports';

const REGISTRY = 'registry.example';
const URL_OF_BLOB = `https://${REGISTRY}/v2/team/app/blobs/sha256:00`;
const SCOPE = 'repository:team/app:pull';
const BASIC = `Basic ${Buffer.from('puller:secret').toString('base64')}`;
const empty = Buffer.alloc(0);

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
const ok: TransportResponse = { status: 200, headers: {}, body: Buffer.from('blob') };

function fakeRegistry(route: (request: TransportRequest) => TransportResponse) {
  const sent: TransportRequest[] = [];
  const transport: RegistryTransport = {
    send: (request) => {
      // What RedirectingTransport does for the reads: the origin's own Authorization.
      const authorization = request.authorizations?.get(request.url.origin);
      const seen = authorization ? { ...request, headers: { ...request.headers, authorization } } : request;
      sent.push(seen);
      return Promise.resolve(route(seen));
    },
  };
  const lines = () =>
    sent.map(
      (request) =>
        `${request.method} ${request.url.pathname}${request.url.search} ${request.headers.authorization ?? '-'}`,
    );
  return { transport, sent, lines };
}

function auth(
  transport: RegistryTransport,
  options: Partial<RegistryAuthOptions> & { now?: () => number } = {},
): RegistryAuth {
  return new RegistryAuth({
    reads: transport,
    tokens: transport,
    insecure: new Set(),
    now: () => 0,
    ...options,
  });
}

const read = (signal?: AbortSignal, deadline?: number) => ({
  registry: REGISTRY,
  scope: SCOPE,
  request: { url: new URL(URL_OF_BLOB), headers: {}, maxBytes: 1024, signal, deadline },
});

const credentials = (credential: RegistryCredential | undefined) => () => Promise.resolve(credential);

/** A registry whose token service at /token hands out `token-<n>` (n counts issued tokens). */
function tokenRegistry(expiresIn?: number, accept: (request: TransportRequest) => boolean = () => true) {
  let issued = 0;
  return fakeRegistry((request) => {
    if (request.url.pathname === '/token') {
      if (!accept(request)) return { status: 401, headers: {}, body: empty };
      issued++;
      return json({
        token: `token-${issued}`,
        ...(expiresIn === undefined ? {} : { expires_in: expiresIn }),
      });
    }
    return request.headers.authorization?.startsWith('Bearer token-')
      ? ok
      : challenge(`Bearer realm="https://${REGISTRY}/token",service="${REGISTRY}"`);
  });
}

describe('Bearer', () => {
  test('anonymous: the realm is asked with service and scope, and the token is sent', async () => {
    const registry = tokenRegistry();
    await expect(auth(registry.transport).get(read())).resolves.toMatchObject({ status: 200 });
    expect(registry.lines()).toEqual([
      'GET /v2/team/app/blobs/sha256:00 -',
      `GET /token?service=${REGISTRY}&scope=repository%3Ateam%2Fapp%3Apull -`,
      'GET /v2/team/app/blobs/sha256:00 Bearer token-1',
    ]);
  });

  test('with a username and password, the realm gets them as Basic', async () => {
    const registry = tokenRegistry(undefined, (request) => request.headers.authorization === BASIC);
    const flow = auth(registry.transport, {
      credentials: credentials({ username: 'puller', password: 'secret' }),
    });
    await expect(flow.get(read())).resolves.toMatchObject({ status: 200 });
    expect(registry.lines()[1]).toMatch(new RegExp(`^GET /token\\?.* ${BASIC}$`));
  });

  test('with an identity token, the realm gets an OAuth2 refresh-token POST', async () => {
    const registry = tokenRegistry();
    const flow = auth(registry.transport, { credentials: credentials({ identityToken: 'refresh-me' }) });
    await expect(flow.get(read())).resolves.toMatchObject({ status: 200 });
    const post = registry.sent.find((request) => request.method === 'POST');
    expect(post?.url.href).toBe(`https://${REGISTRY}/token`);
    expect(Object.fromEntries(new URLSearchParams(post?.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-me',
      service: REGISTRY,
      scope: SCOPE,
      client_id: 'imagegate',
    });
  });

  test('the token is reused for expires_in less 5 s on the clock, then fetched again', async () => {
    let now = 1_000_000;
    const registry = tokenRegistry(30);
    const flow = auth(registry.transport, { now: () => now });
    await flow.get(read());
    now += 25_000;
    await flow.get(read());
    expect(registry.sent.filter((request) => request.url.pathname === '/token')).toHaveLength(1);
    expect(registry.sent.at(-1)?.headers.authorization).toBe('Bearer token-1');
    now += 1;
    await flow.get(read());
    expect(registry.sent.filter((request) => request.url.pathname === '/token')).toHaveLength(2);
    expect(registry.sent.at(-1)?.headers.authorization).toBe('Bearer token-2');
  });

  test('the signal and deadline of the read reach the token request too', async () => {
    const registry = tokenRegistry();
    const signal = new AbortController().signal;
    await auth(registry.transport).get(read(signal, 12_345));
    expect(registry.sent.map((request) => [request.signal, request.deadline])).toEqual([
      [signal, 12_345],
      [signal, 12_345],
      [signal, 12_345],
    ]);
  });

  test.each([
    ['an invalid realm', 'Bearer realm="::"', `registry ${REGISTRY} named an invalid token realm`],
    [
      'a plain-HTTP realm of a registry that is not insecure',
      'Bearer realm="http://tokens.example/token"',
      `registry ${REGISTRY} named a token realm over plain HTTP (tokens.example) that is not an insecure registry`,
    ],
  ])('%s is refused as REGISTRY_AUTH', async (_name, header, message) => {
    const registry = fakeRegistry(() => challenge(header));
    await expect(auth(registry.transport).get(read())).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      registry: REGISTRY,
      message,
    });
    expect(registry.sent).toHaveLength(1);
  });

  test('a token service that answers an error, or no token, is REGISTRY_AUTH with its status', async () => {
    const refused = tokenRegistry(undefined, () => false);
    await expect(auth(refused.transport).get(read())).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      status: 401,
      message: `token service of registry ${REGISTRY} answered HTTP 401`,
    });
    const tokenless = fakeRegistry((request) =>
      request.url.pathname === '/token' ? json({}) : challenge(`Bearer realm="https://${REGISTRY}/token"`),
    );
    await expect(auth(tokenless.transport).get(read())).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      message: `token service of registry ${REGISTRY} returned no token`,
    });
  });
});

describe('Basic', () => {
  test('a Basic challenge is answered with the registry’s own username and password, and not cached', async () => {
    const registry = fakeRegistry((request) =>
      request.headers.authorization === BASIC ? ok : challenge('Basic realm="registry"'),
    );
    const flow = auth(registry.transport, {
      credentials: credentials({ username: 'puller', password: 'secret' }),
    });
    await expect(flow.get(read())).resolves.toMatchObject({ status: 200 });
    await flow.get(read());
    expect(registry.lines()).toEqual([
      'GET /v2/team/app/blobs/sha256:00 -',
      `GET /v2/team/app/blobs/sha256:00 ${BASIC}`,
      'GET /v2/team/app/blobs/sha256:00 -',
      `GET /v2/team/app/blobs/sha256:00 ${BASIC}`,
    ]);
    expect(flow.tokenCacheSize().entries).toBe(0);
  });

  test('without credentials (or with an identity token) the 401 is returned as it is', async () => {
    for (const credential of [undefined, { identityToken: 'x' }]) {
      const registry = fakeRegistry(() => challenge('Basic realm="registry"'));
      await expect(
        auth(registry.transport, { credentials: credentials(credential) }).get(read()),
      ).resolves.toMatchObject({ status: 401 });
      expect(registry.sent).toHaveLength(1);
    }
  });
});

describe('refused and unreadable credentials', () => {
  test('a refused credential is re-read once when the store says fresh ones may exist', async () => {
    let password = 'old';
    const registry = fakeRegistry((request) =>
      request.headers.authorization === `Basic ${Buffer.from('puller:new').toString('base64')}`
        ? ok
        : challenge('Basic'),
    );
    const refresh = jest.fn(() => {
      password = 'new';
      return true;
    });
    const flow = auth(registry.transport, {
      credentials: () => Promise.resolve({ username: 'puller', password }),
      refreshCredentials: refresh,
    });
    await expect(flow.get(read())).resolves.toMatchObject({ status: 200 });
    expect(refresh).toHaveBeenCalledWith(REGISTRY);
    expect(registry.sent).toHaveLength(3);
  });

  test('a refused credential that cannot be refreshed ends the rounds', async () => {
    const registry = fakeRegistry(() => challenge('Basic'));
    const flow = auth(registry.transport, {
      credentials: credentials({ username: 'puller', password: 'wrong' }),
      refreshCredentials: () => false,
    });
    await expect(flow.get(read())).resolves.toMatchObject({ status: 401 });
    expect(registry.sent).toHaveLength(2);
  });

  test('a credential store that fails is REGISTRY_AUTH naming the registry, with the cause', async () => {
    const cause = new Error('secret imagegate/creds could not be read');
    const registry = fakeRegistry(() => challenge('Basic'));
    await expect(
      auth(registry.transport, { credentials: () => Promise.reject(cause) }).get(read()),
    ).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      cause,
      message: `credentials for registry ${REGISTRY} could not be obtained: ${cause.message}`,
    });
  });
});

describe('parseChallenge', () => {
  test.each([
    [
      'Bearer realm="https://a/token",service="a",scope="x:y"',
      'bearer',
      { realm: 'https://a/token', service: 'a', scope: 'x:y' },
    ],
    ['basic realm=registry', 'basic', { realm: 'registry' }],
    ['Bearer realm="q\\"uoted"', 'bearer', { realm: 'q"uoted' }],
  ])('%s', (header, scheme, params) => {
    expect(parseChallenge(header)).toEqual({ scheme, params });
  });

  test('an empty header is no challenge', () => {
    expect(parseChallenge('')).toBeUndefined();
  });
});
