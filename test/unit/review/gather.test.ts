/**
 * The gather step: each read once per review, shared in flight across concurrent reviews, each
 * waiter leaving at its own deadline; verdicts worked out once; only cache misses gathered.
 */
import { VerificationCache } from '../../../lib/cache/verification-cache';
import { untilAborted } from '../../../lib/deadline';
import type { ImageReference } from '../../../lib/model/image';
import { parseImageReference } from '../../../lib/model/image';
import { RegistryError } from '../../../lib/model/registry-errors';
import { Gatherer, type ReviewReads } from '../../../lib/review/gather';
import { reviewAdmissionInDetail } from '../../../lib/review/review';
import { publicGoodTrustRoots } from '../../../lib/verify/trust-roots';
import {
  matchAny,
  podRequest,
  policyDocument,
  policySet,
  rule,
  verifyImagesEntry,
} from '../../support/builders';
import { generateKeyPair } from '../../support/cosign-signer';
import { FakeImageSource } from '../../support/fake-image-source';
import type { ImageSource } from '../../../lib/ports';

const REPOSITORY = 'ghcr.io/acme/app';
const IMAGE = `${REPOSITORY}:1.0`;
const DIGEST = `sha256:${'a'.repeat(64)}`;
const TRUST = publicGoodTrustRoots();
const signer = generateKeyPair('ecdsa-p256');

/** A tag resolution that answers only when `release` is called, recording the signal it ran under. */
class HeldSource implements ImageSource {
  readonly signals: AbortSignal[] = [];
  readonly deadlines: (number | undefined)[] = [];
  private releases: ((digest: string) => void)[] = [];

  resolveDigest(
    _ref: ImageReference,
    signal?: AbortSignal,
    _budget?: unknown,
    deadline?: number,
  ): Promise<string> {
    if (signal) this.signals.push(signal);
    this.deadlines.push(deadline);
    return new Promise((resolve) => this.releases.push(resolve));
  }

  cosignSignatures(): Promise<never[]> {
    return Promise.resolve([]);
  }

  cosignAttestations(): Promise<never[]> {
    return Promise.resolve([]);
  }

  sigstoreBundles(): Promise<never[]> {
    return Promise.resolve([]);
  }

  release(digest: string): void {
    for (const release of this.releases) release(digest);
    this.releases = [];
  }
}

const ref = parseImageReference(IMAGE);

describe('reads', () => {
  test('concurrent reviews share one read; a review reads each thing once, even after it settled', async () => {
    const source = new HeldSource();
    const gatherer = new Gatherer(source);
    const first = gatherer.review(undefined);
    const second = gatherer.review(undefined);
    const pending = [first.digest(ref), second.digest(ref), first.digest(ref)];
    source.release(DIGEST);
    expect(await Promise.all(pending)).toEqual(Array(3).fill({ ok: true, value: DIGEST }));
    expect(source.signals).toHaveLength(1);
    // Settled: this review keeps its answer; a later review asks again.
    expect(await first.digest(ref)).toEqual({ ok: true, value: DIGEST });
    expect(source.signals).toHaveLength(1);
    const later = gatherer.review(undefined).digest(ref);
    source.release(DIGEST);
    await later;
    expect(source.signals).toHaveLength(2);
  });

  test('each waiter leaves at its own deadline; the shared read goes on until the last has left', async () => {
    const source = new HeldSource();
    const gatherer = new Gatherer(source);
    const short = new AbortController();
    const long = new AbortController();
    const early = gatherer.review({ signal: short.signal, at: 1_000 }).digest(ref);
    const patient = gatherer.review({ signal: long.signal, at: 5_000 }).digest(ref);
    expect(source.deadlines).toEqual([1_000]);
    const [shared] = source.signals;

    short.abort(new Error('review deadline reached'));
    const left = await early;
    expect(left.ok).toBe(false);
    expect(!left.ok && left.error).toBeInstanceOf(RegistryError);
    expect(!left.ok && (left.error as RegistryError).code).toBe('REGISTRY_TIMEOUT');
    // The read runs under its own signal, not the first caller's: still going for the other review.
    expect(shared?.aborted).toBe(false);
    expect(gatherer.inFlightCount).toBe(1);

    source.release(DIGEST);
    expect(await patient).toEqual({ ok: true, value: DIGEST });
    expect(gatherer.inFlightCount).toBe(0);
  });

  test('the shared read is aborted once every waiter has left', async () => {
    const source = new HeldSource();
    const gatherer = new Gatherer(source);
    const controller = new AbortController();
    const pending = gatherer.review(untilAborted(controller.signal)).digest(ref);
    controller.abort(new Error('review deadline reached'));
    expect((await pending).ok).toBe(false);
    expect(source.signals[0]?.aborted).toBe(true);
    expect(gatherer.inFlightCount).toBe(0);
  });

  test('a read of shared work is given the longest deadline waiting for that work', async () => {
    const source = new HeldSource();
    const gatherer = new Gatherer(source);
    let start: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (start = resolve));
    const work = async (reads: ReviewReads) => {
      await started;
      return reads.digest(ref);
    };
    const timeout = () => new Error('left');
    const reviews = [1_000, 5_000, 3_000].map((at) =>
      gatherer.verdict('image', gatherer.review({ signal: new AbortController().signal, at }), work, timeout),
    );
    start();
    await new Promise(setImmediate);
    expect(source.deadlines).toEqual([5_000]);
    source.release(DIGEST);
    expect(await Promise.all(reviews)).toEqual(Array(3).fill({ ok: true, value: DIGEST }));
  });
});

describe('verdicts', () => {
  const set = policySet(
    policyDocument({
      name: 'check-image',
      rules: [
        rule('check-image', matchAny({ kinds: ['Pod'] }), [
          verifyImagesEntry([`${REPOSITORY}*`], signer.publicKeyPem),
        ]),
      ],
    }),
  );
  const cacheOptions = { maxEntries: 100, passTtlMs: 60_000, failTtlMs: 60_000 };

  test('concurrent reviews of one image verify it once', async () => {
    const source = new FakeImageSource().tag(IMAGE, DIGEST).sign(REPOSITORY, DIGEST, signer);
    const gatherer = new Gatherer(source);
    const cache = new VerificationCache(cacheOptions);
    const outcomes = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        reviewAdmissionInDetail(podRequest(name, [IMAGE]), set, gatherer, { trust: TRUST, cache }),
      ),
    );
    expect(outcomes.map((outcome) => outcome.decision.allowed)).toEqual([true, true, true]);
    expect(cache.stats).toMatchObject({ verifications: 1, misses: 1 });
    expect(source.signatureReads).toEqual([`${REPOSITORY}@${DIGEST}`]);
  });

  test('only misses are gathered: a cached verdict reads no signatures, a pinned image nothing at all', async () => {
    const source = new FakeImageSource().tag(IMAGE, DIGEST).sign(REPOSITORY, DIGEST, signer);
    const gatherer = new Gatherer(source);
    const cache = new VerificationCache(cacheOptions);
    await reviewAdmissionInDetail(podRequest('cold', [IMAGE]), set, gatherer, { trust: TRUST, cache });
    const cold = source.calls.length;

    const warm = await reviewAdmissionInDetail(podRequest('warm', [IMAGE]), set, gatherer, {
      trust: TRUST,
      cache,
    });
    expect(warm.results.map((result) => result.cacheHit)).toEqual([true]);
    expect(source.calls.slice(cold).map((call) => call.kind)).toEqual(['resolve']);

    const pinned = `${IMAGE}@${DIGEST}`;
    const before = source.calls.length;
    await reviewAdmissionInDetail(podRequest('pinned', [pinned]), set, gatherer, { trust: TRUST, cache });
    expect(source.calls.length).toBe(before);
    expect(cache.stats).toMatchObject({ verifications: 1, hits: 2 });
  });
});
