/**
 * Rule preconditions and verifyImages attestations through reviewAdmission, with an in-memory
 * registry: what is fetched, what is decided, and what the verdict cache keys on.
 */
import { reviewAdmission } from '../../../lib/review/review';
import { VerificationCache } from '../../../lib/cache/verification-cache';
import { imagesVariable, preconditionsHold, requestVariable } from '../../../lib/policy/variables';
import { generateKeyPair } from '../../support/cosign-signer';
import {
  controllerRequest,
  DIGEST_A,
  matchAny,
  podRequest,
  policyDocument,
  policySet,
  rule,
  verifyImagesEntry,
} from '../../support/builders';
import { FakeImageSource } from '../../support/fake-image-source';
import { publicGoodTrustRoots } from '../../../lib/verify/trust-roots';

/** The trust the runtime gives every review (the public-good root; no private roots in these tests). */
const TRUST = publicGoodTrustRoots();

type Json = Record<string, unknown>;
const IMAGE = 'ghcr.io/acme/app';
const SLSA = 'https://slsa.dev/provenance/v0.2';
const signer = generateKeyPair('ecdsa-p256');

function attestationsEntry(conditions: Json[] = [], extra: Json = {}): Json {
  return verifyImagesEntry([`${IMAGE}*`], signer.publicKeyPem, {
    attestations: [
      {
        type: SLSA,
        attestors: [{ entries: [{ keys: { publicKeys: signer.publicKeyPem } }] }],
        conditions,
      },
    ],
    ...extra,
  });
}

function policy(entry: Json, ruleExtra: Json = {}) {
  return policySet(
    policyDocument({
      name: 'provenance',
      rules: [{ ...rule('provenance', matchAny({ kinds: ['Pod'] }), [entry]), ...ruleExtra }],
    }),
  );
}

const builder = (value: string): Json => ({ all: [{ key: '{{ builder.id }}', operator: 'Equals', value }] });

describe('attestations in a review', () => {
  test('a signed image with a signed provenance passes; the .att is fetched with the .sig', async () => {
    const source = new FakeImageSource()
      .tag(`${IMAGE}:v1`, DIGEST_A)
      .sign(IMAGE, DIGEST_A, signer)
      .attest(IMAGE, DIGEST_A, signer, SLSA, { builder: { id: 'https://github.com/acme' } });

    const decision = await reviewAdmission(
      podRequest('app', [`${IMAGE}:v1`]),
      policy(attestationsEntry([builder('https://github.com/*')])),
      source,
      { trust: TRUST },
    );

    expect(decision.allowed).toBe(true);
    expect(source.evidenceReads.sort()).toEqual([`att ${IMAGE}@${DIGEST_A}`, `sig ${IMAGE}@${DIGEST_A}`]);
  });

  test('an entry without attestations never fetches .att', async () => {
    const source = new FakeImageSource().tag(`${IMAGE}:v1`, DIGEST_A).sign(IMAGE, DIGEST_A, signer);
    await reviewAdmission(
      podRequest('app', [`${IMAGE}:v1`]),
      policy(verifyImagesEntry([`${IMAGE}*`], signer.publicKeyPem)),
      source,
      { trust: TRUST },
    );
    expect(source.evidenceReads).toEqual([`sig ${IMAGE}@${DIGEST_A}`]);
  });

  test('a predicate failing a condition denies with the attestation message', async () => {
    const source = new FakeImageSource()
      .tag(`${IMAGE}:v1`, DIGEST_A)
      .sign(IMAGE, DIGEST_A, signer)
      .attest(IMAGE, DIGEST_A, signer, SLSA, { builder: { id: 'https://evil.example' } });

    const decision = await reviewAdmission(
      podRequest('app', [`${IMAGE}:v1`]),
      policy(attestationsEntry([builder('https://github.com/*')])),
      source,
      { trust: TRUST },
    );

    expect(decision.allowed).toBe(false);
    expect(decision.message?.replace(/\n {4}/g, ' ')).toContain(
      `provenance: 'image attestations verification failed for ${IMAGE}:v1: attestation of type ${SLSA}: conditions failed: "{{ builder.id }}" Equals "https://github.com/*"'`,
    );
  });

  test('conditions on image.tag: one digest under two tags gets two cached verdicts', async () => {
    const source = new FakeImageSource()
      .tag(`${IMAGE}:v1`, DIGEST_A)
      .tag(`${IMAGE}:dev`, DIGEST_A)
      .sign(IMAGE, DIGEST_A, signer)
      .attest(IMAGE, DIGEST_A, signer, SLSA, { builder: { id: 'x' } });
    const policies = policy(
      attestationsEntry([{ all: [{ key: '{{ image.tag }}', operator: 'NotEquals', value: 'dev' }] }]),
    );
    const cache = new VerificationCache({ passTtlMs: 300_000, failTtlMs: 300_000, maxEntries: 100 });

    const first = await reviewAdmission(podRequest('a', [`${IMAGE}:v1`]), policies, source, {
      trust: TRUST,
      cache,
    });
    const second = await reviewAdmission(podRequest('b', [`${IMAGE}:dev`]), policies, source, {
      trust: TRUST,
      cache,
    });

    expect(first.allowed).toBe(true);
    expect(second.allowed).toBe(false);
  });
});

describe('preconditions in a review', () => {
  test('a rule whose preconditions fail is skipped: nothing fetched, no warning, no patch', async () => {
    const source = new FakeImageSource().tag(`${IMAGE}:v1`, DIGEST_A);
    const decision = await reviewAdmission(
      podRequest('app', [`${IMAGE}:v1`]),
      policy(verifyImagesEntry([`${IMAGE}*`], signer.publicKeyPem), {
        preconditions: { all: [{ key: '{{ request.namespace }}', operator: 'Equals', value: 'prod' }] },
      }),
      source,
      { trust: TRUST },
    );
    expect(decision).toEqual({ allowed: true, message: undefined, warnings: [], patch: [] });
    expect(source.evidenceReads).toEqual([]);
  });

  test('preconditions that hold (images map by container name) let the rule verify', async () => {
    const source = new FakeImageSource().tag(`${IMAGE}:v1`, DIGEST_A);
    const decision = await reviewAdmission(
      podRequest('app', [`${IMAGE}:v1`]),
      policy(verifyImagesEntry([`${IMAGE}*`], signer.publicKeyPem), {
        preconditions: [{ key: '{{ images.containers.*.registry }}', operator: 'AnyIn', value: ['ghcr.io'] }],
      }),
      source,
      { trust: TRUST },
    );
    expect(decision.allowed).toBe(false);
    expect(source.evidenceReads).toEqual([`sig ${IMAGE}@${DIGEST_A}`]);
  });
});

describe('the request and images variables', () => {
  test('images: per container field and container name, Kyverno ImageInfo fields', () => {
    const request = podRequest('app', [`${IMAGE}:v1`, `nginx@${DIGEST_A}`]);
    const images = imagesVariable(request, { imageExtractors: {} });
    const names = Object.keys(images.containers ?? {});
    expect(names).toHaveLength(2);
    expect(images.containers?.[names[0]!]).toEqual({
      registry: 'ghcr.io',
      path: 'acme/app',
      name: 'app',
      tag: 'v1',
      reference: `${IMAGE}:v1`,
      referenceWithTag: `${IMAGE}:v1`,
    });
    expect(images.containers?.[names[1]!]).toEqual({
      registry: 'docker.io',
      path: 'nginx',
      name: 'nginx',
      digest: DIGEST_A,
      reference: `docker.io/nginx@${DIGEST_A}`,
    });
  });

  test('request: operation, namespace, userInfo, object; controllers use their template', () => {
    const request = controllerRequest('Deployment', 'web', [`${IMAGE}:v1`]);
    expect(requestVariable(request)).toMatchObject({
      operation: 'CREATE',
      kind: { kind: 'Deployment' },
      object: { kind: 'Deployment' },
    });
    expect(Object.values(imagesVariable(request, { imageExtractors: {} }).containers ?? {})).toHaveLength(1);
  });

  test('an unresolvable variable is the empty string in a precondition; a JMESPath runtime error too', () => {
    const request = podRequest('app', [`${IMAGE}:v1`]);
    const base = policy(verifyImagesEntry([`${IMAGE}*`], signer.publicKeyPem)).policies[0]!.rules[0]!;
    const withPreconditions = (key: string, operator: 'Equals' | 'NotEquals' = 'Equals') => ({
      ...base,
      preconditions: { any: [], all: [{ key, operator, value: 'x', message: undefined }] },
    });
    expect(preconditionsHold(withPreconditions('{{ request.object.nothing }}'), request).passed).toBe(false);
    expect(
      preconditionsHold(withPreconditions('{{ length(request.object.nothing) }}'), request),
    ).toMatchObject({ passed: false });
    expect(
      preconditionsHold(withPreconditions('{{ request.object.nothing }}', 'NotEquals'), request).passed,
    ).toBe(true);
  });
});
