/**
 * The Kyverno verify-images scenario through the Lambda handler (functions/admit.ts, middy and
 * all), against a real registry, with the returned patch applied by `kubectl patch --local`.
 */
import http from 'node:http';
import type { Context } from 'aws-lambda';
import { httpEvent, loadHandler, type Handler } from '../support/handler';
import { applyJsonPatch } from '../support/kubectl';
import {
  blockedText,
  parseBlocked,
  decodePatch,
  imageOps,
  podObject,
  podReview,
  startKyvernoScenario,
  type KyvernoScenario,
  type PolicySyntax,
} from '../support/scenario';
import { listenOnLoopback } from '../support/ports';

let scenario: KyvernoScenario;

beforeAll(async () => {
  scenario = await startKyvernoScenario();
});

afterAll(async () => {
  await scenario?.stop();
});

async function admit(handler: Handler, review: unknown) {
  const result = await handler(httpEvent(JSON.stringify(review)), {} as Context);
  expect(result.statusCode).toBe(200);
  return JSON.parse(result.body ?? '') as {
    apiVersion: string;
    response: {
      uid: string;
      allowed: boolean;
      status?: { message: string };
      patchType?: string;
      patch?: string;
      warnings?: string[];
    };
  };
}

describe.each<PolicySyntax>(['current', 'original'])('the sample policy in the %s syntax', (syntax) => {
  let handler: Handler;

  beforeAll(async () => {
    handler = loadHandler({
      IMAGEGATE_POLICIES: await scenario.policyFolder(syntax),
      IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
    });
  });

  test('admits the signed image and pins it to its digest; kubectl applies the patch', async () => {
    const image = scenario.image('signed');
    const review = await admit(handler, podReview('signed', [image]));

    expect(review.response).toMatchObject({ uid: 'uid-signed', allowed: true, patchType: 'JSONPatch' });
    const pinned = `${image}@${scenario.digests.signed}`;
    const patch = decodePatch(review.response);
    expect(imageOps(patch)).toEqual([{ op: 'replace', path: '/spec/containers/0/image', value: pinned }]);

    const patched = (await applyJsonPatch(podObject('signed', [image]), patch)) as {
      metadata: { annotations: Record<string, string> };
      spec: { containers: { image: string }[] };
    };
    expect(patched.spec.containers[0]?.image).toBe(pinned);
    expect(patched.metadata.annotations['imagegate.io/policy-set']).toMatch(/^[0-9a-f]{16}\.[0-9a-f]{32}$/);
  });

  test('denies the unsigned image: signature not found', async () => {
    const image = scenario.image('unsigned');
    const review = await admit(handler, podReview('unsigned', [image]));

    expect(review.response.allowed).toBe(false);
    expect(review.response.patch).toBeUndefined();
    expect(parseBlocked(review.response.status?.message)).toEqual(
      blockedText('unsigned', `image verification failed for ${image}: signature not found`),
    );
  });

  test('denies the image signed with another key: invalid signature', async () => {
    const image = scenario.image('wrongkey');
    const review = await admit(handler, podReview('wrongkey', [image]));

    expect(review.response.allowed).toBe(false);
    expect(parseBlocked(review.response.status?.message)).toEqual(
      blockedText('wrongkey', `image verification failed for ${image}: invalid signature`),
    );
  });
});

describe('answers', () => {
  let handler: Handler;

  beforeAll(async () => {
    handler = loadHandler({
      IMAGEGATE_POLICIES: await scenario.policyFolder('current'),
      IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
    });
  });

  test('in the apiVersion of the request (v1beta1), echoing the uid', async () => {
    const review = await admit(
      handler,
      podReview('beta', [scenario.image('signed')], {
        apiVersion: 'admission.k8s.io/v1beta1',
        uid: 'beta-uid',
      }),
    );
    expect(review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(review.response).toMatchObject({ uid: 'beta-uid', allowed: true });
  });

  test('base64-encoded bodies from API Gateway', async () => {
    const body = Buffer.from(JSON.stringify(podReview('b64', [scenario.image('unsigned')]))).toString(
      'base64',
    );
    const result = await handler(httpEvent(body, { isBase64Encoded: true }), {} as Context);
    expect(JSON.parse(result.body ?? '').response.allowed).toBe(false);
  });

  test('images no policy names are admitted untouched, without registry work', async () => {
    const review = await admit(handler, podReview('other', ['nginx:1.27']));
    expect(review.response).toEqual({ uid: 'uid-other', allowed: true });
  });

  test('a pinned image is verified and left unpatched', async () => {
    const image = `${scenario.image('signed')}@${scenario.digests.signed}`;
    const review = await admit(handler, podReview('pinned', [image]));
    expect(review.response).toMatchObject({ uid: 'uid-pinned', allowed: true });
    expect(imageOps(decodePatch(review.response))).toEqual([]);
  });

  test('a pinned digest whose signature belongs to another digest is denied', async () => {
    const image = `127.0.0.1:${scenario.registry.host.split(':')[1]}/kyverno/test-verify-image@${scenario.digests.unsigned}`;
    const review = await admit(handler, podReview('pinned-unsigned', [image]));
    expect(review.response.allowed).toBe(false);
    expect(review.response.status?.message).toContain('signature not found');
  });

  test('only the signed container of a mixed pod is verified; the other denies', async () => {
    const review = await admit(
      handler,
      podReview('mixed', [scenario.image('signed'), scenario.image('unsigned')]),
    );
    expect(review.response.allowed).toBe(false);
    expect(parseBlocked(review.response.status?.message)).toEqual(
      blockedText(
        'mixed',
        `image verification failed for ${scenario.image('unsigned')}: signature not found`,
      ),
    );
  });
});

describe('bad input', () => {
  let handler: Handler;

  beforeAll(async () => {
    handler = loadHandler({
      IMAGEGATE_POLICIES: await scenario.policyFolder('current'),
      IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
    });
  });

  test.each([
    ['not JSON', '{"apiVersion":', /request body is not JSON/],
    [
      'JSON that is not an AdmissionReview',
      '{"hello":"world"}',
      /apiVersion must be one of admission\.k8s\.io\/v1/,
    ],
    [
      'a review without uid',
      JSON.stringify({
        ...podReview('x', ['nginx']),
        request: { ...(podReview('x', ['nginx']).request as object), uid: '' },
      }),
      /request\.uid must be a non-empty string/,
    ],
    ['a JSON array', '[]', /body must be a JSON object/],
  ])('%s gets HTTP 400 with the reason', async (_name, body, reason) => {
    const result = await handler(httpEvent(body), {} as Context);
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body ?? '')).toEqual({ error: expect.stringMatching(reason) });
  });

  test('a policy file with a YAML error denies with its file and line, and the process keeps answering', async () => {
    const folder = await scenario.folderWith({
      'broken.yaml': 'apiVersion: kyverno.io/v1\nkind: [ClusterPolicy\n',
    });
    const broken = loadHandler({ IMAGEGATE_POLICIES: folder });
    for (const name of ['first', 'second']) {
      const review = await admit(broken, podReview(name, ['nginx']));
      expect(review.response.allowed).toBe(false);
      expect(review.response.status?.message).toMatch(/broken\.yaml:\d+: YAML error/);
    }
  });

  test('a policy with an unknown attestor field denies with the field path', async () => {
    const good = await scenario.policyFolder('current');
    const text = (await import('node:fs/promises')).readFile(`${good}/check-image.yaml`, 'utf8');
    const folder = await scenario.folderWith({
      'unknown.yaml': (await text).replace('- keys:', '- colour: blue\n                  keys:'),
    });
    const review = await admit(loadHandler({ IMAGEGATE_POLICIES: folder }), podReview('x', ['nginx']));
    expect(review.response.status?.message).toMatch(
      /unknown\.yaml:\d+ spec\.rules\[0\]\.verifyImages\[0\]\.attestors\[0\]\.entries\[0\]\.colour: unknown field/,
    );
  });
});

describe('registry failures are "could not verify", not "invalid signature"', () => {
  let failing: http.Server;
  let failingHost: string;
  let closedHost: string;

  beforeAll(async () => {
    failing = http.createServer((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance');
    });
    failingHost = await listenOnLoopback(failing);
    const closed = http.createServer();
    closedHost = await listenOnLoopback(closed);
    await new Promise((resolve) => closed.close(resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => failing.close(resolve));
  });

  async function handlerFor(host: string) {
    const policy = (await import('../support/scenario')).samplePolicy(
      'current',
      `${host}/*`,
      scenario.policyKey.publicKeyPem,
    );
    return loadHandler({
      IMAGEGATE_POLICIES: await scenario.folderWith({ 'policy.yaml': policy }),
      IMAGEGATE_INSECURE_REGISTRIES: host,
    });
  }

  test('an unreachable registry', async () => {
    const image = `${closedHost}/team/app:1.0`;
    const review = await admit(await handlerFor(closedHost), podReview('down', [image]));
    expect(review.response.allowed).toBe(false);
    expect(parseBlocked(review.response.status?.message)).toEqual(
      blockedText(
        'down',
        `could not verify image ${image}: registry ${closedHost} unreachable (ECONNREFUSED)`,
      ),
    );
  });

  test('a registry answering HTTP 503', async () => {
    const image = `${failingHost}/team/app:1.0`;
    const review = await admit(await handlerFor(failingHost), podReview('maintenance', [image]));
    expect(review.response.allowed).toBe(false);
    expect(parseBlocked(review.response.status?.message)).toEqual(
      blockedText(
        'maintenance',
        `could not verify image ${image}: registry ${failingHost} answered HTTP 503 for manifest team/app:1.0`,
      ),
    );
  });
});

describe('Audit', () => {
  test('never denies: the failure becomes a warning and nothing is patched', async () => {
    const handler = loadHandler({
      IMAGEGATE_POLICIES: await scenario.policyFolder('current', { failureAction: 'Audit' }),
      IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
    });
    const image = scenario.image('unsigned');
    const review = await admit(handler, podReview('audited', [image]));
    expect(review.response).toMatchObject({
      uid: 'uid-audited',
      allowed: true,
      warnings: [
        `policy check-image.check-image: image verification failed for ${image}: signature not found`,
      ],
    });
    expect(imageOps(decodePatch(review.response))).toEqual([]);
  });

  test('a verified but unpinned image is reported as missing its digest (verifyDigest)', async () => {
    const handler = loadHandler({
      IMAGEGATE_POLICIES: await scenario.policyFolder('original', { failureAction: 'Audit' }),
      IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
    });
    const image = scenario.image('signed');
    const review = await admit(handler, podReview('unpinned', [image]));
    expect(review.response).toMatchObject({
      uid: 'uid-unpinned',
      allowed: true,
      warnings: [`policy check-image.check-image: missing digest for ${image}`],
    });
    expect(imageOps(decodePatch(review.response))).toEqual([]);
  });
});
