/**
 * Issue 11, parts 1 and 2, through the webhook against a real registry: every spelling of an
 * image the kubelet pulls as the same image is verified, denied and pinned like the canonical one
 * (in the spelling the user wrote), and Docker Hub official images are read at `/v2/library/…`.
 *
 * A zero-padded port reaches the local registry directly (the Lambda handler, real network).
 * Public host names (`ghcr.io`, `quay.io`, Docker Hub) go through a forwarding transport: it
 * records the URL imagegate asked for and serves it from the local registry, so nothing leaves
 * loopback; the SSRF guard sees a public address from an injected resolver.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readConfig } from '../../lib/config';
import { handleAdmissionEvent } from '../../lib/lambda/http';
import { UndiciTransport } from '../../lib/oci/transport';
import { createRuntime } from '../../lib/runtime';
import { signImage } from '../support/cosign-signer';
import { httpEvent, lambdaContext, loadHandler } from '../support/handler';
import { pushImage } from '../support/images';
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
import type { RegistryTransport, TransportRequest } from '../../lib/ports';
import type { Resolver } from '../../lib/ports';

interface AdmissionResponse {
  allowed: boolean;
  status?: { message: string };
  warnings?: string[];
  patch?: string;
}

/** An address the SSRF guard lets through (example.com's); the transport never connects to it. */
const PUBLIC_ADDRESS = '93.184.216.34';
const resolver: Resolver = () => Promise.resolve([PUBLIC_ADDRESS]);
const OFFICIAL = 'library/nginx';

let scenario: KyvernoScenario;
let nginxSigned: string;

beforeAll(async () => {
  scenario = await startKyvernoScenario();
  const host = scenario.registry.host;
  nginxSigned = await pushImage(host, OFFICIAL, 'signed');
  await pushImage(host, OFFICIAL, 'unsigned');
  await signImage(host, OFFICIAL, nginxSigned, scenario.policyKey.privateKey);
}, 60_000);

afterAll(async () => {
  await scenario?.stop();
});

/** The rule message of the sample policy's one rule in a denial. */
function ruleMessage(response: AdmissionResponse): string {
  const tree = parseBlocked(response.status?.message).tree as Record<string, Record<string, string>>;
  return tree['check-image']?.['check-image'] ?? '';
}

/** A transport that records each URL and serves it, path and query unchanged, from the local registry. */
function forwardingTransport(): RegistryTransport & { urls: string[]; close(): Promise<void> } {
  const undici = new UndiciTransport();
  const urls: string[] = [];
  return {
    urls,
    send: (request: TransportRequest) => {
      urls.push(request.url.href);
      const local = new URL(`${request.url.pathname}${request.url.search}`, scenario.registry.url);
      // Sent to the local registry itself, not to the address the guard checked.
      const { connectAddress, ...rest } = request;
      void connectAddress;
      return undici.send({ ...rest, url: local });
    },
    close: () => undici.close(),
  };
}

/** Reviews a Pod running `images` through the webhook, every registry host forwarded to the local one. */
async function admitForwarded(policyFolder: string, images: readonly string[]) {
  const transport = forwardingTransport();
  const runtime = createRuntime(
    readConfig({ IMAGEGATE_POLICIES: policyFolder, IMAGEGATE_LOG_LEVEL: 'ERROR' }),
    quietLog,
    {
      transport,
      resolve: resolver,
    },
  );
  try {
    const result = await handleAdmissionEvent(
      { body: JSON.stringify(podReview('refs', images)), isBase64Encoded: false },
      runtime,
    );
    expect(result.statusCode).toBe(200);
    const { response } = JSON.parse(result.body ?? '') as { response: AdmissionResponse };
    return { response, urls: transport.urls };
  } finally {
    await runtime.close();
    await transport.close();
  }
}

const pin = (image: string, digest: string) => ({
  op: 'replace',
  path: '/spec/containers/0/image',
  value: `${image}@${digest}`,
});

describe('zero-padded ports (the Lambda handler, the registry on 127.0.0.1)', () => {
  const padded = () => scenario.registry.host.replace(/:(\d+)$/, ':0$1');
  let handler: ReturnType<typeof loadHandler>;

  beforeAll(async () => {
    handler = loadHandler({
      IMAGEGATE_POLICIES: await scenario.policyFolder('current'),
      IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
      IMAGEGATE_LOG_LEVEL: 'ERROR',
    });
  });

  async function admit(image: string): Promise<AdmissionResponse> {
    const result = await handler(httpEvent(JSON.stringify(podReview('padded', [image]))), lambdaContext);
    expect(result.statusCode).toBe(200);
    return (JSON.parse(result.body ?? '') as { response: AdmissionResponse }).response;
  }

  test('a signed image is verified and pinned in the spelling written', async () => {
    const image = `${padded()}/${REPOSITORY}:signed`;

    const response = await admit(image);

    expect(response.allowed).toBe(true);
    expect(imageOps(decodePatch(response))).toEqual([pin(image, scenario.digests.signed)]);
  });

  test('an unsigned image is denied like the canonical spelling', async () => {
    const image = `${padded()}/${REPOSITORY}:unsigned`;

    const response = await admit(image);

    expect(response.allowed).toBe(false);
    expect(ruleMessage(response)).toBe(`image verification failed for ${image}: signature not found`);
  });

  test('an insecure registry configured with a padded port is the same registry', async () => {
    const configuredPadded = loadHandler({
      IMAGEGATE_POLICIES: await scenario.policyFolder('current'),
      IMAGEGATE_INSECURE_REGISTRIES: padded(),
      IMAGEGATE_LOG_LEVEL: 'ERROR',
    });
    const image = `${scenario.registry.host}/${REPOSITORY}:signed`;

    const result = await configuredPadded(
      httpEvent(JSON.stringify(podReview('padded', [image]))),
      lambdaContext,
    );
    const { response } = JSON.parse(result.body ?? '') as { response: AdmissionResponse };

    expect(response.allowed).toBe(true);
    expect(imageOps(decodePatch(response))).toEqual([pin(image, scenario.digests.signed)]);
  });
});

describe('host case, the default port and a tag with a digest (forwarded registry)', () => {
  let folder: string;

  beforeAll(async () => {
    folder = await scenario.folderWith({
      'policy.yaml': samplePolicy('current', `ghcr.io/${REPOSITORY}*`, scenario.policyKey.publicKeyPem),
      'quay.yaml': samplePolicy(
        'current',
        `quay.io/${REPOSITORY}:*`,
        scenario.policyKey.publicKeyPem,
      ).replace('name: check-image\nspec', 'name: check-quay\nspec'),
    });
  });

  test.each([
    `GHCR.IO/${REPOSITORY}:signed`,
    `Ghcr.Io:443/${REPOSITORY}:signed`,
    `ghcr.io/${REPOSITORY}:signed`,
  ])('%s is verified at ghcr.io and pinned as written', async (image) => {
    const { response, urls } = await admitForwarded(folder, [image]);

    expect(response.allowed).toBe(true);
    expect(imageOps(decodePatch(response))).toEqual([pin(image, scenario.digests.signed)]);
    expect(urls).toContain(`https://ghcr.io/v2/${REPOSITORY}/manifests/signed`);
  });

  test('GHCR.IO with an unsigned image is denied, the message keeping its spelling', async () => {
    const image = `GHCR.IO/${REPOSITORY}:unsigned`;

    const { response } = await admitForwarded(folder, [image]);

    expect(response.allowed).toBe(false);
    expect(ruleMessage(response)).toBe(`image verification failed for ${image}: signature not found`);
  });

  test('a tag and a digest against a tag pattern: the digest is verified', async () => {
    const signed = `QUAY.IO/${REPOSITORY}:v1@${scenario.digests.signed}`;
    const unsigned = `quay.io/${REPOSITORY}:v1@${scenario.digests.unsigned}`;

    const allowed = await admitForwarded(folder, [signed]);
    const denied = await admitForwarded(folder, [unsigned]);

    expect(allowed.response.allowed).toBe(true);
    expect(allowed.urls).toContain(
      `https://quay.io/v2/${REPOSITORY}/manifests/sha256-${scenario.digests.signed.slice(7)}.sig`,
    );
    expect(denied.response.allowed).toBe(false);
    const tree = parseBlocked(denied.response.status?.message).tree as Record<string, Record<string, string>>;
    expect(tree['check-quay']?.['check-image']).toBe(
      `image verification failed for quay.io/${REPOSITORY}@${scenario.digests.unsigned}: signature not found`,
    );
  });

  test('the shipped policies/check-image.yaml denies GHCR.IO/kyverno/test-verify-image', async () => {
    const shipped = await readFile(join(__dirname, '../../policies/check-image.yaml'), 'utf8');
    const shippedFolder = await scenario.folderWith({ 'check-image.yaml': shipped });
    const image = `GHCR.IO/${REPOSITORY}:unsigned`;

    const { response, urls } = await admitForwarded(shippedFolder, [image]);

    expect(response.allowed).toBe(false);
    expect(ruleMessage(response)).toBe(`image verification failed for ${image}: signature not found`);
    expect(urls[0]).toBe(`https://ghcr.io/v2/${REPOSITORY}/manifests/unsigned`);
  });
});

describe('Docker Hub: aliases, library/, and official images read at /v2/library/…', () => {
  let folder: string;

  beforeAll(async () => {
    folder = await scenario.folderWith({
      'policy.yaml': samplePolicy('current', 'docker.io/nginx*', scenario.policyKey.publicKeyPem),
    });
  });

  test.each([
    'nginx:signed',
    'library/nginx:signed',
    'docker.io/nginx:signed',
    'docker.io/library/nginx:signed',
    'index.docker.io/nginx:signed',
    'registry-1.docker.io/library/nginx:signed',
  ])('%s is verified and pinned as written', async (image) => {
    const { response, urls } = await admitForwarded(folder, [image]);

    expect(response.allowed).toBe(true);
    const written = image.includes('/') && image.split('/')[0] !== 'library' ? image : `docker.io/${image}`;
    expect(imageOps(decodePatch(response))).toEqual([pin(written, nginxSigned)]);
    expect(urls).toContain('https://registry-1.docker.io/v2/library/nginx/manifests/signed');
    expect(urls).toContain(
      `https://registry-1.docker.io/v2/library/nginx/manifests/sha256-${nginxSigned.slice(7)}.sig`,
    );
    expect(urls.filter((url) => !url.startsWith('https://registry-1.docker.io/v2/library/nginx/'))).toEqual(
      [],
    );
  });

  test('an unsigned official image is denied, named as Kyverno names it', async () => {
    const { response, urls } = await admitForwarded(folder, ['nginx:unsigned']);

    expect(response.allowed).toBe(false);
    expect(ruleMessage(response)).toBe(
      'image verification failed for docker.io/nginx:unsigned: signature not found',
    );
    expect(urls[0]).toBe('https://registry-1.docker.io/v2/library/nginx/manifests/unsigned');
  });
});
