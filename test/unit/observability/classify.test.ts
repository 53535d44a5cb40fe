/**
 * Registry error classes, read from the messages the real registry client and review write: each
 * case runs a review through RegistryImageSource and RegistryClient over a scripted transport, so a
 * reworded message in lib/oci or lib/admission fails here instead of silently becoming `other`.
 */
import { reviewAdmissionInDetail } from '../../../lib/admission/review';
import { IMAGE_BYTE_BUDGET, ResourceLimitError, REVIEW_BYTE_BUDGET } from '../../../lib/oci/byte-budget';
import { RegistryImageSource } from '../../../lib/oci/image-source';
import { RegistryClient } from '../../../lib/oci/registry';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/oci/transport';
import type { RegistryErrorClass } from '../../../lib/observability/catalogue';
import { registryErrorClass } from '../../../lib/observability/classify';
import { matchAny, podRequest, policyDocument, policySet, rule, verifyImagesEntry } from '../builders';
import { check } from './events';

const REGISTRY = 'registry.test';
const IMAGE = `${REGISTRY}/team/app:1.0`;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${'c'.repeat(64)}`,
      size: 2,
    },
    layers: [],
  }),
);

type Answer = (request: TransportRequest) => TransportResponse;

const answer = (status: number, headers: Record<string, string> = {}, body: Uint8Array = Buffer.alloc(0)) =>
  (() => ({ status, headers, body })) satisfies Answer;

/** The tag's manifest by `tag`, everything else (signatures, tokens) by `rest`. */
class ScriptedTransport implements RegistryTransport {
  constructor(
    private readonly tag: Answer,
    private readonly rest: Answer = answer(404),
  ) {}

  send(request: TransportRequest): Promise<TransportResponse> {
    const handler = request.url.pathname === '/v2/team/app/manifests/1.0' ? this.tag : this.rest;
    return Promise.resolve(handler(request));
  }
}

async function classOf(
  transport: RegistryTransport,
  signal?: AbortSignal,
): Promise<RegistryErrorClass | undefined> {
  const source = new RegistryImageSource(new RegistryClient({ transport }));
  const set = policySet(
    policyDocument({
      name: 'check-image',
      rules: [rule('check-image', matchAny({ kinds: ['Pod'] }), [verifyImagesEntry([`${REGISTRY}/*`])])],
    }),
  );
  const { results } = await reviewAdmissionInDetail(podRequest('p', [IMAGE]), set, source, { signal });
  expect(results).toHaveLength(1);
  return registryErrorClass(results[0]!);
}

const manifest = answer(200, { 'content-type': MANIFEST_TYPE }, MANIFEST);

describe('registryErrorClass, from what the registry client reports', () => {
  test.each<[string, RegistryTransport, RegistryErrorClass | undefined]>([
    ['HTTP 503 on the tag', new ScriptedTransport(answer(503)), 'http_5xx'],
    ['HTTP 503 on the signatures', new ScriptedTransport(manifest, answer(503)), 'http_5xx'],
    ['HTTP 429', new ScriptedTransport(answer(429)), 'rate_limited'],
    ['HTTP 418', new ScriptedTransport(answer(418)), 'http_4xx'],
    ['401 without a challenge', new ScriptedTransport(answer(401)), 'auth'],
    ['403', new ScriptedTransport(answer(403)), 'auth'],
    [
      'a token service answering 500 (auth, not 5xx)',
      new ScriptedTransport(
        answer(401, { 'www-authenticate': `Bearer realm="https://${REGISTRY}/token",service="${REGISTRY}"` }),
        answer(500),
      ),
      'auth',
    ],
    ['no such tag', new ScriptedTransport(answer(404)), 'not_found'],
    [
      'a manifest that is not JSON',
      new ScriptedTransport(answer(200, { 'content-type': MANIFEST_TYPE }, Buffer.from('{'))),
      'content',
    ],
    [
      'an unexpected media type',
      new ScriptedTransport(answer(200, { 'content-type': 'text/html' }, Buffer.from('{"schemaVersion":2}'))),
      'content',
    ],
    [
      'a digest that does not match the announced one',
      new ScriptedTransport(
        answer(
          200,
          { 'content-type': MANIFEST_TYPE, 'docker-content-digest': `sha256:${'e'.repeat(64)}` },
          MANIFEST,
        ),
      ),
      'content',
    ],
    ['no signatures at all: not the registry’s fault', new ScriptedTransport(manifest), undefined],
  ])('%s', async (_name, transport, expected) => {
    expect(await classOf(transport)).toBe(expected);
  });

  test('the review deadline', async () => {
    const never: RegistryTransport = { send: () => new Promise(() => undefined) };
    const controller = new AbortController();
    const pending = classOf(never, controller.signal);
    controller.abort(new Error('review deadline reached'));
    expect(await pending).toBe('deadline');
  });

  // Written by UndiciTransport and the SSRF guard from network errors, which a unit test does not
  // produce; test/integration/observability.test.ts sees a real unreachable registry.
  test.each<[string, RegistryErrorClass]>([
    [`registry ${REGISTRY} timed out (UND_ERR_CONNECT_TIMEOUT)`, 'timeout'],
    [`registry ${REGISTRY} unreachable (ECONNREFUSED)`, 'unreachable'],
    [`registry ${REGISTRY} redirected too many times`, 'http_4xx'],
    ['something nobody expected', 'other'],
    [new ResourceLimitError('IMAGE_BYTE_BUDGET_EXCEEDED', REGISTRY, IMAGE_BYTE_BUDGET).message, 'content'],
    [new ResourceLimitError('REVIEW_BYTE_BUDGET_EXCEEDED', REGISTRY, REVIEW_BYTE_BUDGET).message, 'content'],
  ])('error %s', (reason, expected) => {
    expect(
      registryErrorClass(
        check({ status: 'error', image: IMAGE, message: `could not verify image ${IMAGE}: ${reason}` }),
      ),
    ).toBe(expected);
  });

  test.each<[string, RegistryErrorClass | undefined]>([
    [`registry ${REGISTRY} refused: resolves to loopback (127.0.0.1)`, 'address_refused'],
    [`registry ${REGISTRY} cut the body of /v2/team/app/manifests/1.0 short (10 of 20 bytes)`, 'content'],
    ['signature not found', undefined],
    ['invalid signature', undefined],
  ])('fail %s', (reason, expected) => {
    expect(
      registryErrorClass(
        check({ status: 'fail', image: IMAGE, message: `image verification failed for ${IMAGE}: ${reason}` }),
      ),
    ).toBe(expected);
  });

  test('passes and skips are never registry errors', () => {
    expect(registryErrorClass(check({ status: 'pass', image: IMAGE }))).toBeUndefined();
    expect(registryErrorClass(check({ status: 'skip', image: IMAGE }))).toBeUndefined();
  });
});
