/**
 * The SSRF guard through the whole webhook (in-process runtime, real undici transport): image
 * references that point at loopback, link-local or private addresses are refused as "not trusted"
 * before any connection is opened, and the configured exceptions still work.
 *
 * No packet leaves loopback: host names are resolved by an injected resolver, and the transport
 * records every connection it is asked for and refuses (without connecting) any that is not on
 * loopback.
 */
import { readConfig } from '../../lib/config';
import { handleAdmissionEvent } from '../../lib/lambda/http';
import { RegistryError } from '../../lib/model/registry-errors';
import { UndiciTransport } from '../../lib/oci/transport';
import { createRuntime } from '../../lib/runtime';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { startCountingProxy, type CountingProxy } from '../support/registry';
import {
  decodePatch,
  imageOps,
  parseBlocked,
  podReview,
  REPOSITORY,
  samplePolicy,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';
import { quietLog } from '../support/quiet';
import { selfSignedCertificate, type SelfSignedCertificate } from '../support/tls';
import type { RegistryTransport, TransportRequest } from '../../lib/ports';
import type { Resolver } from '../../lib/ports';

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]']);

let scenario: KyvernoScenario;
/** The real registry behind a counting proxy that is never allowed: it must see no request. */
let forbidden: CountingProxy;
/** An allowed (insecure) registry that can be told to redirect. */
let allowed: FaultProxy;
/** The registry over TLS (certificate for registry.test and 127.0.0.1). */
let tls: FaultProxy;
let certificate: string;
let tlsFiles: SelfSignedCertificate | undefined;
let policyFolder: string;

beforeAll(async () => {
  scenario = await startKyvernoScenario();
  tlsFiles = await selfSignedCertificate('ssrf-tls', 'registry.test', 'DNS:registry.test,IP:127.0.0.1');
  certificate = tlsFiles.cert;
  const key = tlsFiles.key;
  [forbidden, allowed, tls] = await Promise.all([
    startCountingProxy(scenario.registry.host),
    startFaultProxy(scenario.registry.host),
    startFaultProxy(scenario.registry.host, { tls: { key, cert: certificate } }),
  ]);
  // Every image, under failurePolicy Ignore: a refusal must deny even there.
  const policy = samplePolicy('current', '*', scenario.policyKey.publicKeyPem).replace(
    'failurePolicy: Fail',
    'failurePolicy: Ignore',
  );
  policyFolder = await scenario.folderWith({ 'policy.yaml': policy });
}, 60_000);

afterAll(async () => {
  await Promise.all([forbidden?.stop(), allowed?.stop(), tls?.stop()]);
  await scenario?.stop();
  await tlsFiles?.remove();
});

interface Attempt {
  host: string;
  connectTo: string;
}

/**
 * A real undici transport behind a gate: it records where each request would connect and refuses,
 * without connecting, anything that is not a loopback address.
 */
function loopbackOnlyTransport(attempts: Attempt[]): RegistryTransport & { close(): Promise<void> } {
  const undici = new UndiciTransport({ ca: certificate });
  return {
    send: (request: TransportRequest) => {
      const connectTo = request.connectAddress ?? request.url.hostname;
      attempts.push({ host: request.url.host, connectTo });
      if (!LOOPBACK.has(connectTo)) {
        return Promise.reject(new Error(`test transport: refusing a connection to ${connectTo}`));
      }
      return undici.send(request);
    },
    close: () => undici.close(),
  };
}

const resolver: Resolver = (hostname) => {
  const table: Record<string, string[]> = {
    'internal.example': ['10.0.0.1'],
    'metadata.example': ['93.184.216.34', '169.254.169.254'],
  };
  const addresses = table[hostname];
  return addresses
    ? Promise.resolve(addresses)
    : Promise.reject(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
};

async function admit(imageRef: string, env: Record<string, string> = {}) {
  const attempts: Attempt[] = [];
  const transport = loopbackOnlyTransport(attempts);
  const runtime = createRuntime(
    readConfig({ IMAGEGATE_POLICIES: policyFolder, IMAGEGATE_LOG_LEVEL: 'ERROR', ...env }),
    quietLog,
    { transport, resolve: resolver },
  );
  try {
    const result = await handleAdmissionEvent(
      { body: JSON.stringify(podReview('ssrf', [imageRef])), isBase64Encoded: false },
      runtime,
    );
    expect(result.statusCode).toBe(200);
    const response = (
      JSON.parse(result.body ?? '') as {
        response: { allowed: boolean; status?: { message: string }; warnings?: string[]; patch?: string };
      }
    ).response;
    return { response, attempts };
  } finally {
    await runtime.close();
    await transport.close();
  }
}

function ruleMessage(message: string | undefined): string {
  const tree = parseBlocked(message).tree as Record<string, Record<string, string>>;
  return tree['check-image']?.['check-image'] ?? '';
}

const hint = (host: string) => `; allow it with IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES=${host}`;

describe('refused before any connection, denied even under failurePolicy Ignore', () => {
  test.each([
    ['127.0.0.1 (the real registry, not allowed)', () => forbidden.host, 'a loopback address (127.0.0.1)'],
    ['localhost', () => `localhost:${forbidden.host.split(':')[1]}`, 'a loopback address (localhost)'],
    ['[::1]', () => `[::1]:${forbidden.host.split(':')[1]}`, 'a loopback address (::1)'],
    ['169.254.169.254', () => '169.254.169.254', 'a link-local address (169.254.169.254)'],
    ['a name resolving to 10.0.0.1', () => 'internal.example', 'a private address (10.0.0.1)'],
    [
      'a name with one public and one metadata address',
      () => 'metadata.example',
      'a link-local address (169.254.169.254)',
    ],
  ])('%s', async (_name, registry, range) => {
    const host = registry();
    const imageRef = `${host}/${REPOSITORY}:signed`;
    const { response, attempts } = await admit(imageRef);
    expect(response.allowed).toBe(false);
    expect(response.warnings).toBeUndefined();
    expect(ruleMessage(response.status?.message)).toBe(
      `image verification failed for ${imageRef}: registry ${host} refused: resolves to ${range}${hint(host)}`,
    );
    expect(attempts).toEqual([]);
    expect(forbidden.count()).toBe(0);
  });

  test('a redirect from an allowed registry to loopback is refused before it is followed', async () => {
    allowed.reset();
    allowed.add({
      path: `/v2/${REPOSITORY}/manifests/signed`,
      fault: { kind: 'redirect', location: `http://${forbidden.host}/v2/${REPOSITORY}/manifests/signed` },
    });
    const imageRef = `${allowed.host}/${REPOSITORY}:signed`;
    const { response, attempts } = await admit(imageRef, { IMAGEGATE_INSECURE_REGISTRIES: allowed.host });
    expect(response.allowed).toBe(false);
    expect(ruleMessage(response.status?.message)).toBe(
      `image verification failed for ${imageRef}: registry ${forbidden.host} refused: resolves to a loopback address (127.0.0.1)${hint(forbidden.host)}`,
    );
    expect(attempts).toEqual([{ host: allowed.host, connectTo: '127.0.0.1' }]);
    expect(forbidden.count()).toBe(0);
  });

  test('a redirect to the metadata service is refused before it is followed', async () => {
    allowed.reset();
    allowed.add({
      path: '/blobs/',
      fault: {
        kind: 'redirect',
        location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      },
    });
    const imageRef = `${allowed.host}/${REPOSITORY}:signed`;
    const { response, attempts } = await admit(imageRef, { IMAGEGATE_INSECURE_REGISTRIES: allowed.host });
    expect(response.allowed).toBe(false);
    expect(ruleMessage(response.status?.message)).toBe(
      `image verification failed for ${imageRef}: registry 169.254.169.254 refused: resolves to a link-local address (169.254.169.254)${hint('169.254.169.254')}`,
    );
    expect(attempts.every((attempt) => attempt.host === allowed.host)).toBe(true);
    expect(attempts.length).toBeGreaterThan(0);
  });
});

describe('what configuration allows still works', () => {
  test('an insecure registry on loopback (tests, npm start)', async () => {
    allowed.reset();
    const imageRef = `${allowed.host}/${REPOSITORY}:signed`;
    const { response } = await admit(imageRef, { IMAGEGATE_INSECURE_REGISTRIES: allowed.host });
    expect(response.allowed).toBe(true);
    expect(imageOps(decodePatch(response))).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: `${imageRef}@${scenario.digests.signed}` },
    ]);
  });

  test('a private registry over TLS named in IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES', async () => {
    const imageRef = `${tls.host}/${REPOSITORY}:signed`;
    const denied = await admit(imageRef);
    expect(ruleMessage(denied.response.status?.message)).toContain(`registry ${tls.host} refused`);
    expect(tls.count()).toBe(0);

    const { response, attempts } = await admit(imageRef, { IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES: tls.host });
    expect(response.allowed).toBe(true);
    expect(attempts[0]).toEqual({ host: tls.host, connectTo: '127.0.0.1' });
    expect(tls.count()).toBeGreaterThan(0);
  });
});

describe('a pinned connection', () => {
  test('goes to the checked address while TLS verifies the registry’s own name', async () => {
    const transport = new UndiciTransport({ ca: certificate });
    try {
      const port = tls.port;
      const request = (host: string): TransportRequest => ({
        method: 'GET',
        url: new URL(`https://${host}:${port}/v2/`),
        headers: {},
        maxBytes: 1024,
        connectAddress: '127.0.0.1',
      });
      // registry.test exists in no DNS: only the pinned address can have been used.
      await expect(transport.send(request('registry.test'))).resolves.toMatchObject({ status: 200 });
      // The certificate names registry.test, not other.test: the pinned IP does not stand in for the name.
      const mismatch = transport.send(request('other.test'));
      await expect(mismatch).rejects.toThrow(RegistryError);
      await expect(mismatch).rejects.toMatchObject({
        code: 'REGISTRY_UNREACHABLE',
        message: expect.stringContaining(`registry other.test:${port} unreachable`) as unknown,
      });
    } finally {
      await transport.close();
    }
  });
});
