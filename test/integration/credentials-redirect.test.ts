/**
 * A registry's credential never leaves for another host, even when the registry redirects there
 * and that host challenges for a Bearer token (issue 11, part 7). Through the webhook (in-process
 * runtime, real undici transport), with:
 *
 * - registry R: a small Bearer-token front (its token service on its own host checks the puller's
 *   Basic credential) before a real `docker-registry` holding Kyverno's signed image; for the tag
 *   `redirected` it answers, once authorised, with a redirect to X;
 * - host X: an HTTPS server that challenges every request for a Bearer token from its own realm
 *   and records every Authorization header it is sent.
 */
import http from 'node:http';
import https from 'node:https';
import { readConfig } from '../../lib/config';
import { handleAdmissionEvent } from '../../lib/lambda/http';
import { UndiciTransport } from '../../lib/oci/transport';
import { createRuntime, type Runtime } from '../../lib/runtime';
import { basicAuthHeader } from '../support/images';
import { listenOnLoopback } from '../support/ports';
import {
  podReview,
  REPOSITORY,
  samplePolicy,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';
import { quietLog } from '../support/quiet';
import { selfSignedCertificate, type SelfSignedCertificate } from '../support/tls';

const PULLER = { username: 'puller', password: 'r-password-4b7d19' };
const R_TOKEN = 'r-issued-token-e1f0';
const X_TOKEN = 'x-anonymous-token-77aa';

let scenario: KyvernoScenario;
let tlsFiles: SelfSignedCertificate | undefined;
let certificate: string;
let registryR: { host: string; tokenRequests: (string | undefined)[]; server: http.Server };
let hostX: { host: string; authorizations: (string | undefined)[]; server: https.Server };

/** R: Bearer-protected front before the real registry; `redirected` goes to X once authorised. */
async function startRegistryR(backend: string, redirectTo: () => string) {
  const tokenRequests: (string | undefined)[] = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://r');
    const host = request.headers.host ?? '';
    if (url.pathname === '/token') {
      tokenRequests.push(request.headers.authorization);
      if (request.headers.authorization !== basicAuthHeader(PULLER)) {
        response.writeHead(401, { 'www-authenticate': 'Basic realm="r-token-service"' }).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ token: R_TOKEN, expires_in: 300 }));
      return;
    }
    if (request.headers.authorization !== `Bearer ${R_TOKEN}`) {
      response
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://${host}/token",service="registry-r",scope="repository:${REPOSITORY}:pull"`,
        })
        .end();
      return;
    }
    if (url.pathname === `/v2/${REPOSITORY}/manifests/redirected`) {
      response.writeHead(307, { location: `${redirectTo()}${url.pathname}` }).end();
      return;
    }
    const headers = { ...request.headers };
    delete headers.authorization;
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: Number(backend.split(':')[1]),
        method: request.method,
        path: request.url,
        headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  return { host: await listenOnLoopback(server), tokenRequests, server };
}

/** X: challenges everything for a Bearer token from its own realm, and records what it is sent. */
async function startHostX(key: string, cert: string) {
  const authorizations: (string | undefined)[] = [];
  const server = https.createServer({ key, cert }, (request, response) => {
    authorizations.push(request.headers.authorization);
    const host = request.headers.host ?? '';
    if ((request.url ?? '').startsWith('/token')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ token: X_TOKEN }));
      return;
    }
    response
      .writeHead(request.headers.authorization === `Bearer ${X_TOKEN}` ? 404 : 401, {
        'www-authenticate': `Bearer realm="https://${host}/token",service="x"`,
        'content-type': 'application/json',
      })
      .end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
  });
  return { host: await listenOnLoopback(server), authorizations, server };
}

beforeAll(async () => {
  scenario = await startKyvernoScenario();
  tlsFiles = await selfSignedCertificate('credentials-redirect-tls', '127.0.0.1', 'IP:127.0.0.1');
  certificate = tlsFiles.cert;
  hostX = await startHostX(tlsFiles.key, certificate);
  registryR = await startRegistryR(scenario.registry.host, () => `https://${hostX.host}`);
  await startRuntime();
}, 60_000);

afterAll(async () => {
  const close = (server: http.Server | https.Server | undefined) =>
    new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await runtime?.close();
  await transport?.close();
  await Promise.all([close(registryR?.server), close(hostX?.server)]);
  await scenario?.stop();
  await tlsFiles?.remove();
});

/** One warm instance for the whole file: R's token, once issued, is cached as in Lambda. */
let runtime: Runtime;
let transport: UndiciTransport;

async function startRuntime(): Promise<void> {
  const folder = await scenario.folderWith({
    'policy.yaml': samplePolicy('current', `${registryR.host}/*`, scenario.policyKey.publicKeyPem),
  });
  const dockerConfig = JSON.stringify({
    auths: { [registryR.host]: { auth: basicAuthHeader(PULLER).slice('Basic '.length) } },
  });
  transport = new UndiciTransport({ ca: certificate });
  runtime = createRuntime(
    readConfig({
      IMAGEGATE_POLICIES: folder,
      IMAGEGATE_REGISTRY_CREDENTIALS: 'secretsmanager://registry-r-credentials',
      IMAGEGATE_INSECURE_REGISTRIES: registryR.host,
      IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES: hostX.host,
    }),
    quietLog,
    {
      transport,
      aws: () => ({
        secrets: () => ({ read: () => Promise.resolve(dockerConfig) }),
        policyStore: () => {
          throw new Error('not used');
        },
        ecrCredentials: () => {
          throw new Error('not used');
        },
        trustRootDocuments: () => {
          throw new Error('not used');
        },
      }),
    },
  );
}

async function admit(image: string) {
  const result = await handleAdmissionEvent(
    { body: JSON.stringify(podReview('creds', [image])), isBase64Encoded: false },
    runtime,
  );
  expect(result.statusCode).toBe(200);
  return (JSON.parse(result.body ?? '') as { response: { allowed: boolean } }).response;
}

test('R’s own token flow works: its token service gets the credential, the signed image is admitted', async () => {
  registryR.tokenRequests.length = 0;
  const response = await admit(`${registryR.host}/${REPOSITORY}:signed`);
  expect(response.allowed).toBe(true);
  expect(registryR.tokenRequests).toContain(basicAuthHeader(PULLER));
});

test('a redirect to X, where X challenges for a Bearer token: X never sees R’s credential or R’s token', async () => {
  hostX.authorizations.length = 0;
  // Twice: the second review starts with R's cached token, so R redirects at once.
  for (let review = 0; review < 2; review++) {
    expect((await admit(`${registryR.host}/${REPOSITORY}:redirected`)).allowed).toBe(false);
  }
  // X was asked (the redirect was followed and its challenge answered) ...
  expect(hostX.authorizations.length).toBeGreaterThan(1);
  // ... with nothing but X's own anonymous token.
  expect(new Set(hostX.authorizations)).toEqual(new Set([undefined, `Bearer ${X_TOKEN}`]));
});
