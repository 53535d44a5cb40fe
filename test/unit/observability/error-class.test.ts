/**
 * Registry error classes, read from the typed cause of a check: the first cases run a review
 * through RegistryImageSource and RegistryClient over a scripted transport and check both the code
 * the client reported and its class; the rest pin the table from code to class.
 */
import { reviewAdmissionInDetail } from '../../../lib/review/review';
import { IMAGE_BYTE_BUDGET, ResourceLimitError, REVIEW_BYTE_BUDGET } from '../../../lib/model/byte-budget';
import { RegistryImageSource } from '../../../lib/oci/image-source';
import { RegistryClient } from '../../../lib/oci/registry';
import { REGISTRY_ERROR_CLASSES, type RegistryErrorClass } from '../../../lib/observability/catalogue';
import type { CheckCause } from '../../../lib/model/outcome';
import { causeClass, CLASS_OF_CODE, registryErrorClass } from '../../../lib/observability/error-class';
import {
  matchAny,
  podRequest,
  policyDocument,
  policySet,
  rule,
  verifyImagesEntry,
} from '../../support/builders';
import { check } from '../../support/review-events';
import { untilAborted } from '../../../lib/deadline';
import { publicGoodTrustRoots } from '../../../lib/verify/trust-roots';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';

/** The trust the runtime gives every review (the public-good root; no private roots in these tests). */
const TRUST = publicGoodTrustRoots();

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
): Promise<[RegistryErrorClass | undefined, CheckCause | undefined]> {
  const source = new RegistryImageSource(new RegistryClient({ transport }));
  const set = policySet(
    policyDocument({
      name: 'check-image',
      rules: [rule('check-image', matchAny({ kinds: ['Pod'] }), [verifyImagesEntry([`${REGISTRY}/*`])])],
    }),
  );
  const deadline = signal ? untilAborted(signal) : undefined;
  const { results } = await reviewAdmissionInDetail(podRequest('p', [IMAGE]), set, source, {
    trust: TRUST,
    deadline,
  });
  expect(results).toHaveLength(1);
  const result = results[0]!;
  return [registryErrorClass(result), result.status === 'pass' ? undefined : result.cause];
}

const manifest = answer(200, { 'content-type': MANIFEST_TYPE }, MANIFEST);

const registry = (code: string, status?: number): unknown =>
  expect.objectContaining({ kind: 'registry', code, registry: REGISTRY, ...(status ? { status } : {}) });

describe('registryErrorClass, from what the registry client reports', () => {
  test.each<[string, RegistryTransport, RegistryErrorClass | undefined, unknown]>([
    ['HTTP 503 on the tag', new ScriptedTransport(answer(503)), 'http_5xx', registry('REGISTRY_HTTP', 503)],
    [
      'HTTP 503 on the signatures',
      new ScriptedTransport(manifest, answer(503)),
      'http_5xx',
      registry('REGISTRY_HTTP', 503),
    ],
    ['HTTP 429', new ScriptedTransport(answer(429)), 'rate_limited', registry('REGISTRY_HTTP', 429)],
    ['HTTP 418', new ScriptedTransport(answer(418)), 'http_4xx', registry('REGISTRY_HTTP', 418)],
    ['401 without a challenge', new ScriptedTransport(answer(401)), 'auth', registry('REGISTRY_AUTH', 401)],
    ['403', new ScriptedTransport(answer(403)), 'auth', registry('REGISTRY_AUTH', 403)],
    [
      'a token service answering 500 (auth, not 5xx)',
      new ScriptedTransport(
        answer(401, { 'www-authenticate': `Bearer realm="https://${REGISTRY}/token",service="${REGISTRY}"` }),
        answer(500),
      ),
      'auth',
      registry('REGISTRY_AUTH', 500),
    ],
    ['no such tag', new ScriptedTransport(answer(404)), 'not_found', registry('NOT_FOUND')],
    [
      'a manifest that is not JSON',
      new ScriptedTransport(answer(200, { 'content-type': MANIFEST_TYPE }, Buffer.from('{'))),
      'content',
      registry('MALFORMED'),
    ],
    [
      'an unexpected media type',
      new ScriptedTransport(answer(200, { 'content-type': 'text/html' }, Buffer.from('{"schemaVersion":2}'))),
      'content',
      registry('UNEXPECTED_MEDIA_TYPE'),
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
      registry('DIGEST_MISMATCH'),
    ],
    [
      'no signatures at all: not the registry’s fault',
      new ScriptedTransport(manifest),
      undefined,
      expect.objectContaining({ kind: 'verification' }),
    ],
  ])('%s', async (_name, transport, expectedClass, expectedCause) => {
    const [errorClass, cause] = await classOf(transport);
    expect(cause).toEqual(expectedCause);
    expect(errorClass).toBe(expectedClass);
  });

  test('the review deadline', async () => {
    const never: RegistryTransport = { send: () => new Promise(() => undefined) };
    const controller = new AbortController();
    const pending = classOf(never, controller.signal);
    controller.abort(new Error('review deadline reached'));
    const [errorClass, cause] = await pending;
    expect(cause).toMatchObject({ kind: 'deadline', registry: REGISTRY });
    expect(errorClass).toBe('deadline');
  });
});

describe('the class of each cause', () => {
  // Codes the scripted transport above cannot produce (network errors, the SSRF guard, budgets).
  test.each<[CheckCause, RegistryErrorClass | undefined]>([
    [{ kind: 'registry', code: 'REGISTRY_TIMEOUT', registry: REGISTRY, detail: 'd' }, 'timeout'],
    [{ kind: 'registry', code: 'REGISTRY_UNREACHABLE', registry: REGISTRY, detail: 'd' }, 'unreachable'],
    // A bad redirect carries the 3xx status it came with.
    [{ kind: 'registry', code: 'REGISTRY_HTTP', registry: REGISTRY, status: 302, detail: 'd' }, 'http_4xx'],
    [{ kind: 'registry', code: 'REGISTRY_HTTP', registry: REGISTRY, detail: 'd' }, 'http_4xx'],
    [{ kind: 'registry', code: 'ADDRESS_REFUSED', registry: REGISTRY, detail: 'd' }, 'address_refused'],
    [{ kind: 'registry', code: 'TRUNCATED', registry: REGISTRY, detail: 'd' }, 'content'],
    [{ kind: 'registry', code: 'TOO_LARGE', registry: REGISTRY, detail: 'd' }, 'content'],
    [{ kind: 'deadline', registry: REGISTRY, detail: 'd' }, 'deadline'],
    [{ kind: 'internal', detail: 'something nobody expected' }, 'other'],
    [{ kind: 'verification', failure: 'INVALID_SIGNATURE', detail: 'invalid signature' }, undefined],
    [{ kind: 'verification', failure: 'NO_SIGNATURES', detail: 'signature not found' }, undefined],
    [{ kind: 'reference', detail: 'd' }, undefined],
    [{ kind: 'digest-missing' }, undefined],
    [{ kind: 'skipped' }, undefined],
  ])('%j', (cause, expected) => {
    expect(causeClass(cause)).toBe(expected);
  });

  test.each([
    new ResourceLimitError('IMAGE_BYTE_BUDGET_EXCEEDED', REGISTRY, IMAGE_BYTE_BUDGET),
    new ResourceLimitError('REVIEW_BYTE_BUDGET_EXCEEDED', REGISTRY, REVIEW_BYTE_BUDGET),
  ])('a byte budget ($code) is content', (error) => {
    expect(
      causeClass({ kind: 'registry', code: error.code, registry: error.registry, detail: error.message }),
    ).toBe('content');
  });

  test('every code has a class of the catalogue', () => {
    for (const errorClass of Object.values(CLASS_OF_CODE))
      expect(REGISTRY_ERROR_CLASSES).toContain(errorClass);
  });

  test('passes and skips are never registry errors', () => {
    expect(registryErrorClass(check({ status: 'pass', image: IMAGE }))).toBeUndefined();
    expect(registryErrorClass(check({ status: 'skip', image: IMAGE }))).toBeUndefined();
  });
});
