/**
 * Issue 11, parts 1 and 5, in the review: images are matched as the kubelet pulls them, and a
 * reference that cannot be read is a failed check under every rule that applies (fail closed).
 */
import { reviewAdmissionInDetail } from '../../../lib/review/review';
import { canonicalReference, MAX_REFERENCE_LENGTH } from '../../../lib/model/image';
import { generateKeyPair } from '../../support/cosign-signer';
import {
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

const signer = generateKeyPair('ecdsa-p256');
const IMAGE = 'quay.io/acme/app';

/** One signed image, `quay.io/acme/app:v1` -> DIGEST_A, looked up by its canonical spelling. */
const canonicalSource = () =>
  new FakeImageSource(canonicalReference).tag(`${IMAGE}:v1`, DIGEST_A).sign(IMAGE, DIGEST_A, signer);

/** Two policies, each with one rule whose entry names only `quay.io/acme/app:*`. */
const twoPolicies = (entry: Record<string, unknown> = {}) =>
  policySet(
    ...['first', 'second'].map((name) =>
      policyDocument({
        name,
        rules: [
          rule(`${name}-rule`, matchAny({ kinds: ['Pod'] }), [
            verifyImagesEntry([`${IMAGE}:*`], signer.publicKeyPem, entry),
          ]),
        ],
      }),
    ),
  );

describe('spellings of the same image are checked and pinned like the canonical one', () => {
  test.each(['QUAY.IO/acme/app:v1', 'Quay.Io:443/acme/app:v1', 'quay.io:0443/acme/app:v1'])(
    '%s is verified, pinned in its own spelling',
    async (image) => {
      const source = canonicalSource();

      const { decision, results } = await reviewAdmissionInDetail(
        podRequest('app', [image]),
        twoPolicies(),
        source,
        { trust: TRUST },
      );

      expect(results.map((result) => [result.status, result.image])).toEqual([
        ['pass', image],
        ['pass', image],
      ]);
      expect(decision.allowed).toBe(true);
      expect(decision.patch.filter((op) => op.path.endsWith('/image'))).toEqual([
        { op: 'replace', path: '/spec/containers/0/image', value: `${image}@${DIGEST_A}` },
      ]);
      expect(source.signatureReads).toContain(`${IMAGE}@${DIGEST_A}`);
    },
  );

  test('a tag and a digest are matched by a tag pattern and verified by the digest', async () => {
    const source = canonicalSource();
    const image = `${IMAGE}:v1@${DIGEST_A}`;

    const { decision, results } = await reviewAdmissionInDetail(
      podRequest('app', [image]),
      twoPolicies(),
      source,
      { trust: TRUST },
    );

    expect(results.map((result) => result.status)).toEqual(['pass', 'pass']);
    expect(results[0]?.message).toBe(`verified image signatures for ${IMAGE}@${DIGEST_A}`);
    expect(decision.allowed).toBe(true);
    expect(source.resolved).toEqual([]);
  });

  test('an unsigned digest behind a tag pattern is denied', async () => {
    const other = `sha256:${'c'.repeat(64)}`;
    const { decision, results } = await reviewAdmissionInDetail(
      podRequest('app', [`${IMAGE}:v1@${other}`]),
      twoPolicies(),
      canonicalSource(),
      { trust: TRUST },
    );

    expect(results.map((result) => [result.status, result.message])).toEqual([
      ['fail', `image verification failed for ${IMAGE}@${other}: signature not found`],
      ['fail', `image verification failed for ${IMAGE}@${other}: signature not found`],
    ]);
    expect(decision.allowed).toBe(false);
  });
});

describe('a reference that cannot be read fails every entry of every rule that applies', () => {
  test('an invalid reference no pattern names is a failed check, without a registry call', async () => {
    const source = canonicalSource();
    const image = 'QUAY.IO/Acme/App:v1';

    const { decision, results } = await reviewAdmissionInDetail(
      podRequest('app', [image]),
      twoPolicies(),
      source,
      { trust: TRUST },
    );

    const reason = `invalid image reference ${JSON.stringify(image)}: invalid repository component "Acme"`;
    expect(results.map((result) => [result.binding.policy.name, result.status, result.message])).toEqual([
      ['first', 'fail', `image verification failed for ${image}: ${reason}`],
      ['second', 'fail', `image verification failed for ${image}: ${reason}`],
    ]);
    expect(decision.allowed).toBe(false);
    expect(source.resolved).toEqual([]);
    expect(source.signatureReads).toEqual([]);
  });

  test('skipImageReferences does not skip it', async () => {
    const { results } = await reviewAdmissionInDetail(
      podRequest('app', ['bad_host.example/acme/app']),
      twoPolicies({ skipImageReferences: ['*'] }),
      canonicalSource(),
      { trust: TRUST },
    );

    expect(results.map((result) => result.status)).toEqual(['fail', 'fail']);
  });

  test('a 600 kB image string fails as too long, and the denial quotes only its start', async () => {
    const image = `${'1.dkr.ecr.'.repeat(60_000)}x/app`;
    const set = policySet(
      policyDocument({
        name: 'ecr',
        rules: [
          rule('ecr', matchAny({ kinds: ['Pod'] }), [
            verifyImagesEntry(['*.dkr.ecr.*.amazonaws.com/*'], signer.publicKeyPem),
          ]),
        ],
      }),
    );

    const { decision, results } = await reviewAdmissionInDetail(
      podRequest('app', [image]),
      set,
      canonicalSource(),
      { trust: TRUST },
    );

    expect(results).toHaveLength(1);
    expect(results[0]?.status).toBe('fail');
    expect(results[0]?.message).toContain(
      `too long (${image.length} characters; at most ${MAX_REFERENCE_LENGTH} are read)`,
    );
    expect(decision.allowed).toBe(false);
    expect(decision.message!.length).toBeLessThan(2_000);
  });
});
