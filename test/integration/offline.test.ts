/**
 * The deployed shape, locally: API Gateway HTTP API (serverless offline) -> esbuild bundle of
 * functions/admit.ts -> AdmissionReview, against a real registry, the patch applied by kubectl.
 */
import { applyJsonPatch } from '../support/kubectl';
import { startOffline, type OfflineServer } from '../support/offline';
import {
  blockedText,
  parseBlocked,
  decodePatch,
  podObject,
  podReview,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';

interface Reply {
  status: number;
  contentType: string | null;
  body: {
    error?: string;
    response: { uid: string; allowed: boolean; patch?: string; status: { message: string } };
  };
}

let scenario: KyvernoScenario;
let server: OfflineServer | undefined;

beforeAll(async () => {
  scenario = await startKyvernoScenario();
  server = await startOffline({
    IMAGEGATE_POLICIES: await scenario.policyFolder('current'),
    IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
  });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await scenario?.stop();
}, 15_000);

async function admit(body: string): Promise<Reply> {
  const res = await fetch(`${server!.url}/admit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    body: JSON.parse(text) as Reply['body'],
  };
}

describe('POST /admit through serverless offline', () => {
  test('the signed image is admitted with a digest patch that kubectl applies', async () => {
    const image = scenario.image('signed');
    const reply = await admit(JSON.stringify(podReview('signed', [image])));

    expect(reply).toMatchObject({ status: 200, body: { response: { uid: 'uid-signed', allowed: true } } });
    const pinned = `${image}@${scenario.digests.signed}`;
    const patched = (await applyJsonPatch(
      podObject('signed', [image]),
      decodePatch(reply.body.response),
    )) as {
      spec: { containers: { image: string }[] };
    };
    expect(patched.spec.containers[0]?.image).toBe(pinned);
  });

  test.each([
    ['unsigned', 'signature not found'],
    ['wrongkey', 'invalid signature'],
  ])('the %s image is denied: %s', async (tag, reason) => {
    const image = scenario.image(tag);
    const reply = await admit(JSON.stringify(podReview(tag, [image])));

    expect(reply.status).toBe(200);
    expect(reply.body.response.allowed).toBe(false);
    expect(parseBlocked(reply.body.response.status.message)).toEqual(
      blockedText(tag, `image verification failed for ${image}: ${reason}`),
    );
  });

  test.each([
    ['a body that is not JSON', 'this is not json', /request body is not JSON/],
    ['JSON that is not an AdmissionReview', JSON.stringify({ hello: 'world' }), /apiVersion must be one of/],
  ])('%s gets 400 with a JSON error', async (_name, body, reason) => {
    const reply = await admit(body);

    expect(reply).toMatchObject({ status: 400 });
    expect(reply.contentType).toMatch(/^application\/json/);
    expect(reply.body).toEqual({ error: expect.stringMatching(reason) });
  });

  test('a Pod no policy names is allowed as is, uid echoed', async () => {
    const reply = await admit(JSON.stringify(podReview('other', ['registry.example.test/team/app:v1'])));

    expect(reply).toMatchObject({ status: 200 });
    expect(reply.body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-other', allowed: true },
    });
  });
});
