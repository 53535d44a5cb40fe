import { untilAborted } from '../../../lib/deadline';
import { reviewAdmission, reviewAdmissionInDetail } from '../../../lib/review/review';
import type { AdmissionDecision, JsonPatchOperation } from '../../../lib/model/admission';
import { RegistryContentError, RegistryError } from '../../../lib/model/registry-errors';
import type { PolicySet } from '../../../lib/policy/policy-set';
import { generateKeyPair } from '../../support/cosign-signer';
import {
  admissionRequest,
  controllerRequest,
  DIGEST_A,
  DIGEST_B,
  matchAny,
  pod,
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

const KYVERNO_IMAGE = 'ghcr.io/kyverno/test-verify-image';

const signer = generateKeyPair('ecdsa-p256');
const stranger = generateKeyPair('ecdsa-p256');

/** Kyverno's check-image policy, with our test key and optional entry / spec overrides. */
function checkImagePolicy(
  entry: Json = {},
  spec: Json = {},
  keys: string | string[] = signer.publicKeyPem,
): PolicySet {
  return policySet(
    policyDocument({
      name: 'check-image',
      spec,
      rules: [
        rule('check-image', matchAny({ kinds: ['Pod'] }), [
          verifyImagesEntry([`${KYVERNO_IMAGE}*`], keys, entry),
        ]),
      ],
    }),
  );
}

/** The image `replace` ops of a decision (other ops, e.g. annotations, are left out). */
function imageOps(decision: AdmissionDecision): JsonPatchOperation[] {
  return decision.patch.filter((op) => op.op === 'replace' && op.path.endsWith('/image'));
}

/** Undoes go-yaml's line folding (a space became a break and four spaces), for comparing text. */
function unfold(message: string | undefined): string {
  return (message ?? '').replace(/\n {4}/g, ' ');
}

function kyvernoDenial(resource: string, message: string): string {
  return `\n\nresource ${resource} was blocked due to the following policies \n\ncheck-image:\n  check-image: '${message}'\n`;
}

describe('reviewAdmission', () => {
  test('a signed image is allowed and pinned to its digest, keeping the tag', async () => {
    const source = new FakeImageSource()
      .tag(`${KYVERNO_IMAGE}:signed`, DIGEST_A)
      .sign(KYVERNO_IMAGE, DIGEST_A, signer);

    const decision = await reviewAdmission(
      podRequest('signed', [`${KYVERNO_IMAGE}:signed`]),
      checkImagePolicy(),
      source,
      { trust: TRUST },
    );

    expect(decision.allowed).toBe(true);
    expect(decision.message).toBeUndefined();
    expect(decision.warnings).toEqual([]);
    expect(imageOps(decision)).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: `${KYVERNO_IMAGE}:signed@${DIGEST_A}` },
    ]);
    expect(source.resolved).toEqual([`${KYVERNO_IMAGE}:signed`]);
    expect(source.signatureReads).toEqual([`${KYVERNO_IMAGE}@${DIGEST_A}`]);
  });

  test("an unsigned image is denied with Kyverno's message: signature not found", async () => {
    const source = new FakeImageSource().tag(`${KYVERNO_IMAGE}:unsigned`, DIGEST_B);

    const decision = await reviewAdmission(
      podRequest('unsigned', [`${KYVERNO_IMAGE}:unsigned`]),
      checkImagePolicy(),
      source,
      { trust: TRUST },
    );

    expect({ ...decision, message: unfold(decision.message) }).toEqual({
      allowed: false,
      message: kyvernoDenial(
        'Pod/default/unsigned',
        'image verification failed for ghcr.io/kyverno/test-verify-image:unsigned: signature not found',
      ),
      warnings: [],
      patch: [],
    });
  });

  test('an image signed by another key is denied: invalid signature', async () => {
    const source = new FakeImageSource()
      .tag(`${KYVERNO_IMAGE}:signed`, DIGEST_A)
      .sign(KYVERNO_IMAGE, DIGEST_A, stranger);

    const decision = await reviewAdmission(
      podRequest('signed', [`${KYVERNO_IMAGE}:signed`]),
      checkImagePolicy(),
      source,
      { trust: TRUST },
    );

    expect(decision.allowed).toBe(false);
    expect(unfold(decision.message)).toBe(
      kyvernoDenial(
        'Pod/default/signed',
        `image verification failed for ${KYVERNO_IMAGE}:signed: invalid signature`,
      ),
    );
  });

  test('a signature for another digest does not verify this one', async () => {
    const source = new FakeImageSource()
      .tag(`${KYVERNO_IMAGE}:signed`, DIGEST_A)
      .sign(KYVERNO_IMAGE, DIGEST_B, signer)
      .sign(KYVERNO_IMAGE, DIGEST_A, stranger);

    const decision = await reviewAdmission(
      podRequest('signed', [`${KYVERNO_IMAGE}:signed`]),
      checkImagePolicy(),
      source,
      { trust: TRUST },
    );

    expect(decision.allowed).toBe(false);
  });

  describe('each image once', () => {
    test('the same image in three containers is resolved and fetched once, and pinned in each', async () => {
      const image = `${KYVERNO_IMAGE}:signed`;
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);
      const request = admissionRequest({
        object: pod('app', [image, image], {}, { initContainers: [{ name: 'init', image }] }),
      });

      const decision = await reviewAdmission(request, checkImagePolicy(), source, { trust: TRUST });

      expect(source.resolved).toHaveLength(1);
      expect(source.signatureReads).toHaveLength(1);
      expect(imageOps(decision)).toEqual([
        { op: 'replace', path: '/spec/initContainers/0/image', value: `${image}@${DIGEST_A}` },
        { op: 'replace', path: '/spec/containers/0/image', value: `${image}@${DIGEST_A}` },
        { op: 'replace', path: '/spec/containers/1/image', value: `${image}@${DIGEST_A}` },
      ]);
    });

    test('a tag is resolved once per review, however it is written and however many rules check it', async () => {
      const source = new FakeImageSource()
        .tag('docker.io/nginx:latest', DIGEST_A)
        .sign('docker.io/nginx', DIGEST_A, signer);
      const entry = verifyImagesEntry(['docker.io/nginx*'], signer.publicKeyPem);
      const set = policySet(
        policyDocument({ name: 'one', rules: [rule('r', matchAny({ kinds: ['Pod'] }), [entry])] }),
        policyDocument({
          name: 'two',
          rules: [
            rule('r1', matchAny({ kinds: ['Pod'] }), [entry]),
            rule('r2', matchAny({ kinds: ['Pod'] }), [entry]),
          ],
        }),
      );

      const decision = await reviewAdmission(
        podRequest('web', ['nginx', 'docker.io/nginx:latest', 'nginx:latest']),
        set,
        source,
        { trust: TRUST },
      );

      expect(decision.allowed).toBe(true);
      expect(source.resolved).toEqual(['docker.io/nginx:latest']);
      expect(source.signatureReads).toEqual([`docker.io/nginx@${DIGEST_A}`]);
      expect(imageOps(decision).map((op) => ('value' in op ? op.value : undefined))).toEqual([
        `docker.io/nginx:latest@${DIGEST_A}`,
        `docker.io/nginx:latest@${DIGEST_A}`,
        `docker.io/nginx:latest@${DIGEST_A}`,
      ]);
    });

    test('a tag is resolved again on the next review: a moved tag is never trusted from a previous verdict', async () => {
      const image = `${KYVERNO_IMAGE}:latest`;
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);
      const request = podRequest('app', [image]);

      const first = await reviewAdmission(request, checkImagePolicy(), source, { trust: TRUST });
      source.tag(image, DIGEST_B);
      const second = await reviewAdmission(request, checkImagePolicy(), source, { trust: TRUST });

      expect(first.allowed).toBe(true);
      expect(second.allowed).toBe(false);
      expect(unfold(second.message)).toContain(`image verification failed for ${image}: signature not found`);
      expect(source.resolved).toEqual([image, image]);
    });

    test('an image that names a digest is not resolved, is checked at that digest and is not patched', async () => {
      const image = `${KYVERNO_IMAGE}:signed@${DIGEST_A}`;
      const source = new FakeImageSource().sign(KYVERNO_IMAGE, DIGEST_A, signer);

      const decision = await reviewAdmission(podRequest('app', [image]), checkImagePolicy(), source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(true);
      expect(source.resolved).toEqual([]);
      expect(source.signatureReads).toEqual([`${KYVERNO_IMAGE}@${DIGEST_A}`]);
      expect(imageOps(decision)).toEqual([]);
    });
  });

  describe('registry errors', () => {
    const image = `${KYVERNO_IMAGE}:signed`;
    const timeout = () =>
      new RegistryError('REGISTRY_TIMEOUT', 'ghcr.io', 'registry ghcr.io did not answer within 3s');

    test('a registry that cannot be asked for the tag is "could not verify", denied under failurePolicy Fail', async () => {
      const source = new FakeImageSource().failResolve(image, timeout());

      const decision = await reviewAdmission(podRequest('app', [image]), checkImagePolicy(), source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(false);
      expect(unfold(decision.message)).toBe(
        kyvernoDenial(
          'Pod/default/app',
          `could not verify image ${image}: registry ghcr.io did not answer within 3s`,
        ),
      );
      expect(source.signatureReads).toEqual([]);
    });

    test('the same error is allowed with a warning under failurePolicy Ignore', async () => {
      const source = new FakeImageSource().failResolve(image, timeout());
      const set = checkImagePolicy({}, { webhookConfiguration: { failurePolicy: 'Ignore' } });

      const decision = await reviewAdmission(podRequest('app', [image]), set, source, { trust: TRUST });

      expect(decision.allowed).toBe(true);
      expect(decision.warnings).toEqual([
        `policy check-image.check-image: could not verify image ${image}: registry ghcr.io did not answer within 3s (allowed: failurePolicy is Ignore)`,
      ]);
      expect(imageOps(decision)).toEqual([]);
    });

    test('a registry error while fetching signatures is "could not verify" too', async () => {
      const source = new FakeImageSource()
        .tag(image, DIGEST_A)
        .failSignatures(
          KYVERNO_IMAGE,
          DIGEST_A,
          new RegistryError('REGISTRY_HTTP', 'ghcr.io', 'registry ghcr.io answered 503', { status: 503 }),
        );

      const decision = await reviewAdmission(podRequest('app', [image]), checkImagePolicy(), source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(false);
      expect(unfold(decision.message)).toContain(
        `check-image: 'could not verify image ${image}: registry ghcr.io answered 503'`,
      );
    });

    test('content that must not be trusted is a failure: denied even under failurePolicy Ignore', async () => {
      const source = new FakeImageSource()
        .tag(image, DIGEST_A)
        .failSignatures(
          KYVERNO_IMAGE,
          DIGEST_A,
          new RegistryContentError('DIGEST_MISMATCH', 'ghcr.io', 'blob sha256:abc does not match its digest'),
        );
      const set = checkImagePolicy({}, { webhookConfiguration: { failurePolicy: 'Ignore' } });

      const decision = await reviewAdmission(podRequest('app', [image]), set, source, { trust: TRUST });

      expect(decision.allowed).toBe(false);
      expect(unfold(decision.message)).toContain(
        `check-image: 'image verification failed for ${image}: blob sha256:abc does not match its digest'`,
      );
    });

    test('a tag the registry does not have is a failure, not an error', async () => {
      const source = new FakeImageSource().failResolve(
        image,
        new RegistryContentError(
          'NOT_FOUND',
          'ghcr.io',
          `image not found: registry ghcr.io has no manifest kyverno/test-verify-image:signed`,
        ),
      );
      const set = checkImagePolicy({}, { webhookConfiguration: { failurePolicy: 'Ignore' } });

      const decision = await reviewAdmission(podRequest('app', [image]), set, source, { trust: TRUST });

      expect(decision.allowed).toBe(false);
      expect(unfold(decision.message)).toContain(
        `image verification failed for ${image}: image not found: registry ghcr.io has no manifest`,
      );
    });

    test('an error on one image does not hide the verdict on another', async () => {
      const other = `${KYVERNO_IMAGE}:other`;
      const source = new FakeImageSource().failResolve(image, timeout()).tag(other, DIGEST_B);

      const decision = await reviewAdmission(podRequest('app', [image, other]), checkImagePolicy(), source, {
        trust: TRUST,
      });

      expect(unfold(decision.message)).toContain(
        `could not verify image ${image}: registry ghcr.io did not answer within 3s`,
      );
      expect(unfold(decision.message)).toContain(
        `image verification failed for ${other}: signature not found`,
      );
    });
  });

  describe('attestor sets', () => {
    const image = `${KYVERNO_IMAGE}:signed`;
    const second = generateKeyPair('ecdsa-p256');
    const keys = [signer.publicKeyPem, second.publicKeyPem];

    test('without count, every key must have signed', async () => {
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, second);

      expect(
        (
          await reviewAdmission(podRequest('app', [image]), checkImagePolicy({}, {}, keys), source, {
            trust: TRUST,
          })
        ).allowed,
      ).toBe(false);

      source.sign(KYVERNO_IMAGE, DIGEST_A, signer);
      expect(
        (
          await reviewAdmission(podRequest('app', [image]), checkImagePolicy({}, {}, keys), source, {
            trust: TRUST,
          })
        ).allowed,
      ).toBe(true);
    });

    test('count 1 of 2 (several keys in one publicKeys string): one signature is enough', async () => {
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, second);
      const entry = {
        attestors: [{ count: 1, entries: [{ keys: { publicKeys: keys.join('\n') } }] }],
      };

      const decision = await reviewAdmission(podRequest('app', [image]), checkImagePolicy(entry), source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(true);
      expect(imageOps(decision)).toHaveLength(1);
    });

    test('count 2 of 2 with one signature is denied', async () => {
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, second);
      const entry = {
        attestors: [{ count: 2, entries: [{ keys: { publicKeys: keys.join('\n') } }] }],
      };

      const decision = await reviewAdmission(podRequest('app', [image]), checkImagePolicy(entry), source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(false);
      expect(unfold(decision.message)).toContain(`image verification failed for ${image}: invalid signature`);
    });

    test('signatures are read from the repository the policy names', async () => {
      const source = new FakeImageSource()
        .tag(image, DIGEST_A)
        .sign('ghcr.io/org/signatures', DIGEST_A, signer);

      const decision = await reviewAdmission(
        podRequest('app', [image]),
        checkImagePolicy({ repository: 'ghcr.io/org/signatures' }),
        source,
        { trust: TRUST },
      );

      expect(decision.allowed).toBe(true);
      expect(source.signatureReads).toEqual([`ghcr.io/org/signatures@${DIGEST_A}`]);
    });

    test('count 1 of 2 locations: an unreachable one does not matter when the other verifies', async () => {
      const source = new FakeImageSource()
        .tag(image, DIGEST_A)
        .sign('ghcr.io/org/signatures', DIGEST_A, signer)
        .failSignatures(
          'quay.io/org/signatures',
          DIGEST_A,
          new RegistryError('REGISTRY_UNREACHABLE', 'quay.io', 'quay.io is down'),
        );
      const entry = {
        attestors: [
          {
            count: 1,
            entries: [
              { repository: 'ghcr.io/org/signatures', keys: { publicKeys: signer.publicKeyPem } },
              { repository: 'quay.io/org/signatures', keys: { publicKeys: second.publicKeyPem } },
            ],
          },
        ],
      };

      const decision = await reviewAdmission(podRequest('app', [image]), checkImagePolicy(entry), source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(true);
      expect([...source.signatureReads].sort()).toEqual([
        `ghcr.io/org/signatures@${DIGEST_A}`,
        `quay.io/org/signatures@${DIGEST_A}`,
      ]);
    });

    test('required annotations must be in the signed payload', async () => {
      const source = new FakeImageSource()
        .tag(image, DIGEST_A)
        .sign(KYVERNO_IMAGE, DIGEST_A, signer, { env: 'dev' });
      const entry = {
        attestors: [
          { entries: [{ annotations: { env: 'prod' }, keys: { publicKeys: signer.publicKeyPem } }] },
        ],
      };

      const decision = await reviewAdmission(podRequest('app', [image]), checkImagePolicy(entry), source, {
        trust: TRUST,
      });

      expect(unfold(decision.message)).toContain(
        `image verification failed for ${image}: annotation env is "dev", expected "prod"`,
      );
    });
  });

  describe('digests', () => {
    const image = `${KYVERNO_IMAGE}:signed`;

    test('mutateDigest false with verifyDigest true: a signed image named by tag is denied, missing digest', async () => {
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);

      const decision = await reviewAdmission(
        podRequest('app', [image]),
        checkImagePolicy({ mutateDigest: false }),
        source,
        { trust: TRUST },
      );

      expect(decision.allowed).toBe(false);
      expect(unfold(decision.message)).toBe(
        `\n\nresource Pod/default/app was blocked due to the following policies \n\ncheck-image:\n  check-image: missing digest for ${image}\n`,
      );
    });

    test('mutateDigest false with verifyDigest false: allowed, not pinned', async () => {
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);

      const decision = await reviewAdmission(
        podRequest('app', [image]),
        checkImagePolicy({ mutateDigest: false, verifyDigest: false }),
        source,
        { trust: TRUST },
      );

      expect(decision.allowed).toBe(true);
      expect(imageOps(decision)).toEqual([]);
    });

    test('mutateDigest false: an image that names its digest passes', async () => {
      const source = new FakeImageSource().sign(KYVERNO_IMAGE, DIGEST_A, signer);

      const decision = await reviewAdmission(
        podRequest('app', [`${image}@${DIGEST_A}`]),
        checkImagePolicy({ mutateDigest: false }),
        source,
        { trust: TRUST },
      );

      expect(decision.allowed).toBe(true);
    });
  });

  describe('what is checked at all', () => {
    test('skipImageReferences: a warning and no registry call', async () => {
      const source = new FakeImageSource();
      const set = checkImagePolicy({ skipImageReferences: [`${KYVERNO_IMAGE}:dev-*`] });

      const decision = await reviewAdmission(podRequest('app', [`${KYVERNO_IMAGE}:dev-1`]), set, source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(true);
      expect(decision.warnings).toEqual([
        `policy check-image.check-image: skipping image reference image ${KYVERNO_IMAGE}:dev-1, policy check-image ruleName check-image`,
      ]);
      expect(imageOps(decision)).toEqual([]);
      expect(source.resolved).toEqual([]);
      expect(source.signatureReads).toEqual([]);
    });

    test('images no imageReferences pattern matches are left alone', async () => {
      const source = new FakeImageSource();

      const decision = await reviewAdmission(
        podRequest('app', ['nginx', 'quay.io/org/app:1']),
        checkImagePolicy(),
        source,
        { trust: TRUST },
      );

      expect(decision).toEqual({ allowed: true, message: undefined, warnings: [], patch: [] });
      expect(source.resolved).toEqual([]);
    });

    test.each(['DELETE', 'CONNECT'] as const)(
      '%s is allowed without any registry call',
      async (operation) => {
        const source = new FakeImageSource();
        const request = admissionRequest({
          operation,
          object: undefined,
          oldObject: pod('app', [`${KYVERNO_IMAGE}:unsigned`]),
        });

        const decision = await reviewAdmission(request, checkImagePolicy(), source, { trust: TRUST });

        expect(decision).toEqual({ allowed: true, message: undefined, warnings: [], patch: [] });
        expect(source.resolved).toEqual([]);
        expect(source.signatureReads).toEqual([]);
      },
    );

    test('an image reference that cannot be parsed fails without a registry call', async () => {
      const source = new FakeImageSource();
      const set = policySet(
        policyDocument({
          name: 'check-image',
          rules: [
            rule('check-image', matchAny({ kinds: ['Pod'] }), [
              verifyImagesEntry(['*'], signer.publicKeyPem),
            ]),
          ],
        }),
      );

      const decision = await reviewAdmission(podRequest('app', ['ghcr.io/Org/App:1']), set, source, {
        trust: TRUST,
      });

      expect(decision.allowed).toBe(false);
      expect(unfold(decision.message)).toContain(
        `check-image: 'image verification failed for ghcr.io/Org/App:1: invalid image reference "ghcr.io/Org/App:1": invalid repository component "Org"'`,
      );
      expect(source.resolved).toEqual([]);
    });

    test('an Audit policy allows an unsigned image with a warning', async () => {
      const source = new FakeImageSource().tag(`${KYVERNO_IMAGE}:unsigned`, DIGEST_B);
      const set = checkImagePolicy({ failureAction: 'Audit', mutateDigest: false });

      const decision = await reviewAdmission(
        podRequest('unsigned', [`${KYVERNO_IMAGE}:unsigned`]),
        set,
        source,
        { trust: TRUST },
      );

      expect(decision.allowed).toBe(true);
      expect(decision.warnings).toEqual([
        `policy check-image.check-image: image verification failed for ${KYVERNO_IMAGE}:unsigned: signature not found`,
      ]);
    });
  });

  describe('pod controllers (autogen)', () => {
    const image = `${KYVERNO_IMAGE}:signed`;

    test('a Deployment is checked through autogen and pinned in its pod template', async () => {
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);

      const decision = await reviewAdmission(
        controllerRequest('Deployment', 'web', [image]),
        checkImagePolicy(),
        source,
        { trust: TRUST },
      );

      expect(imageOps(decision)).toEqual([
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: `${image}@${DIGEST_A}` },
      ]);
    });

    test('a CronJob is pinned under jobTemplate; a denial names the autogen-cronjob rule', async () => {
      const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);

      const decision = await reviewAdmission(
        controllerRequest('CronJob', 'nightly', [image]),
        checkImagePolicy(),
        source,
        { trust: TRUST },
      );
      expect(imageOps(decision)).toEqual([
        {
          op: 'replace',
          path: '/spec/jobTemplate/spec/template/spec/containers/0/image',
          value: `${image}@${DIGEST_A}`,
        },
      ]);

      const unsigned = `${KYVERNO_IMAGE}:unsigned`;
      source.tag(unsigned, DIGEST_B);
      const denied = await reviewAdmission(
        controllerRequest('CronJob', 'nightly', [unsigned]),
        checkImagePolicy(),
        source,
        { trust: TRUST },
      );
      expect(unfold(denied.message)).toBe(
        `\n\nresource CronJob/default/nightly was blocked due to the following policies \n\ncheck-image:\n  autogen-cronjob-check-image: 'image verification failed for ${unsigned}: signature not found'\n`,
      );
    });
  });

  test('the deadline reaches every registry read: each gets a signal, and none is made once it has passed', async () => {
    const image = `${KYVERNO_IMAGE}:signed`;
    const source = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);
    const controller = new AbortController();

    await reviewAdmission(podRequest('app', [image]), checkImagePolicy(), source, {
      trust: TRUST,
      deadline: untilAborted(controller.signal),
    });
    expect(source.calls.map((call) => call.kind).sort()).toEqual(['bundles', 'resolve', 'sig']);
    for (const call of source.calls) expect(call.signal).toBeInstanceOf(AbortSignal);

    const late = new FakeImageSource().tag(image, DIGEST_A).sign(KYVERNO_IMAGE, DIGEST_A, signer);
    controller.abort(new Error('review deadline reached'));
    const { results } = await reviewAdmissionInDetail(podRequest('late', [image]), checkImagePolicy(), late, {
      trust: TRUST,
      deadline: untilAborted(controller.signal),
    });
    expect(late.calls).toEqual([]);
    expect(results.map((result) => result.status !== 'pass' && result.cause)).toEqual([
      { kind: 'deadline', registry: 'ghcr.io', detail: 'registry ghcr.io did not answer in time' },
    ]);
  });
});

describe('internal faults', () => {
  const failingSource = new FakeImageSource().resolveWith(() => new TypeError('fetch failed'));

  test.each([
    ['Ignore', true],
    ['Fail', false],
  ])(
    'an unexpected exception is "could not verify", decided by failurePolicy %s',
    async (failurePolicy, allowed) => {
      const policy = policyDocument({
        name: 'p',
        spec: { webhookConfiguration: { failurePolicy } },
        rules: [rule('r', matchAny({ kinds: ['Pod'] }), [verifyImagesEntry(['*'])])],
      });
      const decision = await reviewAdmission(podRequest('a', ['nginx']), policySet(policy), failingSource, {
        trust: TRUST,
      });
      expect(decision.allowed).toBe(allowed);
      const text = allowed ? decision.warnings.join('\n') : unfold(decision.message);
      expect(text).toContain('could not verify image docker.io/nginx:latest: fetch failed');
    },
  );
});
