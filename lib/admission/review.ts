import { createHash } from 'node:crypto';
import { describeError } from '../errors';
import type { SignatureLayer, SignatureLocation } from '../oci/cosign';
import type { SigstoreBundleArtifact } from '../oci/referrers';
import { ImageReferenceError, RegistryContentError } from '../oci/errors';
import {
  displayImageText,
  formatReference,
  parseImageReference,
  type ImageReference,
} from '../oci/reference';
import { imageMatchesAny } from '../policy/image-patterns';
import { selectRules, type RuleBinding } from '../policy/match';
import type { PolicySet } from '../policy/policy-set';
import {
  imageInfoVariable,
  imagesVariable,
  preconditionsHold,
  requestVariable,
} from '../policy/preconditions';
import type { AttestorSet, ImageVerification, LeafAttestor } from '../policy/types';
import { decide, type ImageCheckResult } from '../decision/decide';
import { evaluateAttestations } from '../verify/attestations';
import {
  evaluateAttestorSets,
  leafAttestors,
  type AttestorEvidence,
  type AttestorOutcome,
} from '../verify/attestors';
import { publicGoodTrustRoots, type TrustRoots } from '../verify/trust-roots';
import {
  policySetAnnotationPatch,
  policySetAnnotationRemoval,
  policySetAnnotationValue,
  recordedVerification,
  verificationFingerprint,
  verifiedImageKey,
  type VerifiedImage,
} from '../patch/annotations';
import { VerificationCache } from '../cache/verification-cache';
import { registryTimeout } from '../deadline';
import { ReviewByteBudget, type ByteBudget } from '../oci/byte-budget';
import { extractImageSites, type ImageSite } from '../workload/images';
import type { AdmissionDecision, AdmissionRequest } from './types';

/**
 * Port: the registry reads a review needs. Implementations may cache and share work. `budget` is
 * the review's (or, for signatures, the image's) byte budget: registry body bytes read for the call
 * are charged to it, and a read over it fails with `ResourceLimitError` ("could not check").
 */
export interface ImageSource {
  /** The digest a tag points to now. */
  resolveDigest(ref: ImageReference, signal?: AbortSignal, budget?: ByteBudget): Promise<string>;
  /** The cosign `.sig` signatures stored for `digest` at `location`; empty when there are none. */
  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
  ): Promise<SignatureLayer[]>;
  /**
   * The cosign `.att` attestations stored for `digest` at `location` (one layer per DSSE envelope);
   * empty when there are none (or not implemented).
   */
  cosignAttestations?(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
  ): Promise<SignatureLayer[]>;
  /** The Sigstore bundles referring to `digest` at `location`; empty when there are none (or not implemented). */
  sigstoreBundles?(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
  ): Promise<SigstoreBundleArtifact[]>;
}

/** One image of the resource that one verifyImages entry of one rule must check. */
interface PlannedCheck {
  readonly binding: RuleBinding;
  readonly entry: ImageVerification;
  readonly site: ImageSite;
  /** Kyverno's normalised form of the image, used in patterns and messages. */
  readonly image: string;
  readonly ref: ImageReference | ImageReferenceError;
  readonly skipped: boolean;
  /** `request` and `images` for attestation conditions, built on first use. */
  readonly variables: () => Readonly<Record<string, unknown>>;
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** What a review may share with other reviews of the same process. */
export interface ReviewOptions {
  readonly signal?: AbortSignal | undefined;
  /** Verdicts by digest across reviews, with single flight; none = verify every time. */
  readonly cache?: VerificationCache | undefined;
  /** Trust roots for certificates, transparency logs and timestamps; default: the public-good root. */
  readonly trust?: TrustRoots | undefined;
  /** The time, for certificates signed without a log entry or timestamp (`rekor.ignoreTlog`). */
  readonly now?: Date | undefined;
}

/** The review's decision, and what was checked for each image (for decision logs and metrics). */
export interface ReviewOutcome {
  readonly decision: AdmissionDecision;
  readonly results: readonly ImageCheckResult[];
}

/**
 * Reviews one admission request: selects the rules that apply, resolves every image once,
 * fetches the signatures each verdict needs (all images in parallel, each location once), and
 * decides with pure functions. A verdict cached for the same policy set, attestor entry and
 * digest is reused; a tag is always resolved again, so a moved tag is verified anew.
 */
export async function reviewAdmission(
  request: AdmissionRequest,
  policySet: PolicySet,
  source: ImageSource,
  options: ReviewOptions = {},
): Promise<AdmissionDecision> {
  return (await reviewAdmissionInDetail(request, policySet, source, options)).decision;
}

/** {@link reviewAdmission}, also returning the per-image results. */
export async function reviewAdmissionInDetail(
  request: AdmissionRequest,
  policySet: PolicySet,
  source: ImageSource,
  options: ReviewOptions = {},
): Promise<ReviewOutcome> {
  if (request.operation === 'DELETE' || request.operation === 'CONNECT') {
    return { decision: decide(request, []), results: [] };
  }
  const { checks, matchedSites, applicable } = planChecks(
    request,
    selectRules(policySet, request),
    policySet.version,
  );
  const fetcher = new ReviewFetcher(source, options.signal);
  const results = await Promise.all(
    checks.map((check) => checkImage(check, policySet.version, fetcher, options)),
  );
  const decision = decide(request, results);
  // Subresource updates (pods/ephemeralcontainers) cannot change metadata.
  if (!decision.allowed || request.subResource) return { decision, results };
  // ADR 4: the annotation is always imagegate's own. It records every (entry, pointer, stored
  // image) that passed, now or at the last write, when all did; otherwise — an image that did
  // not pass, or no image any rule applies to — any annotation, even a hand-written one, goes.
  const everyImagePassed = matchedSites > 0 && results.every((result) => result.status === 'pass');
  const pinned = new Map(
    decision.patch.flatMap((op): [string, string][] =>
      op.op === 'replace' && typeof op.value === 'string' ? [[op.path, op.value]] : [],
    ),
  );
  const annotation = everyImagePassed
    ? policySetAnnotationPatch(
        request.object,
        policySetAnnotationValue(
          policySet.version,
          applicable.map((check) => verifiedImage(check, pinned.get(check.site.pointer) ?? check.site.image)),
        ),
      )
    : policySetAnnotationRemoval(request.object);
  return { decision: { ...decision, patch: [...decision.patch, ...annotation] }, results };
}

/**
 * Each digest resolution and signature fetch of one review, started once and shared by its checks,
 * under the review's signal and charged to its byte budget (signatures to the image's share).
 */
class ReviewFetcher {
  /** Every fetch of this review, by kind and key; each runs once and never rejects. */
  private readonly started = new Map<string, Promise<Settled<unknown>>>();

  constructor(
    private readonly source: ImageSource,
    readonly signal: AbortSignal | undefined,
    private readonly budget: ReviewByteBudget = new ReviewByteBudget(),
  ) {}

  /**
   * The same reads under another signal (a verification shared with other reviews, which may
   * outlive this review's deadline), still charged to this review's budget.
   */
  under(signal: AbortSignal | undefined): ReviewFetcher {
    return signal === this.signal ? this : new ReviewFetcher(this.source, signal, this.budget);
  }

  digest(ref: ImageReference): Promise<Settled<string>> {
    // Canonical registry and repository: two spellings of one image are one read.
    return this.once(`digest ${ref.registry}/${ref.repository}:${ref.tag ?? ''}@${ref.digest ?? ''}`, () =>
      ref.digest
        ? Promise.resolve(ref.digest)
        : this.source.resolveDigest(ref, this.signal, this.budget.review),
    );
  }

  cosignSignatures(location: SignatureLocation, digest: string): Promise<Settled<SignatureLayer[]>> {
    return this.once(`sig ${locationKey(location)}@${digest}`, () =>
      this.source.cosignSignatures(location, digest, this.signal, this.budget.image(digest)),
    );
  }

  cosignAttestations(location: SignatureLocation, digest: string): Promise<Settled<SignatureLayer[]>> {
    return this.once(
      `att ${locationKey(location)}@${digest}`,
      async () =>
        (await this.source.cosignAttestations?.(location, digest, this.signal, this.budget.image(digest))) ??
        [],
    );
  }

  sigstoreBundles(location: SignatureLocation, digest: string): Promise<Settled<SigstoreBundleArtifact[]>> {
    return this.once(
      `bundles ${locationKey(location)}@${digest}`,
      async () =>
        (await this.source.sigstoreBundles?.(location, digest, this.signal, this.budget.image(digest))) ?? [],
    );
  }

  private once<T>(key: string, fetch: () => Promise<T>): Promise<Settled<T>> {
    let pending = this.started.get(key) as Promise<Settled<T>> | undefined;
    if (!pending) {
      pending = settle(fetch());
      this.started.set(key, pending);
    }
    return pending;
  }
}

/** The verdict of one verifyImages entry for one digest, as cached. */
type Verdict =
  | { readonly status: 'pass' }
  | { readonly status: 'fail'; readonly reason: string; readonly attestation?: boolean }
  | { readonly status: 'error'; readonly reason: string };

async function checkImage(
  check: PlannedCheck,
  policySetVersion: string,
  fetcher: ReviewFetcher,
  options: ReviewOptions,
): Promise<ImageCheckResult> {
  const { cache } = options;
  const base = {
    binding: check.binding,
    entry: check.entry,
    site: check.site,
    image: check.image,
    cacheHit: false,
  };
  if (check.ref instanceof ImageReferenceError) {
    return {
      ...base,
      status: 'fail',
      message: `image verification failed for ${check.image}: ${check.ref.message}`,
    };
  }
  if (check.skipped) {
    // Kyverno's words (imageverifier.go); decide() prefixes `policy P.R: ` as Kyverno's warning does.
    const { policy } = check.binding;
    const message = `skipping image reference image ${check.image}, policy ${policy.name} ruleName ${check.binding.ruleName}`;
    return { ...base, status: 'skip', message };
  }
  const ref = check.ref;
  const resolved = await fetcher.digest(ref);
  if (!resolved.ok) return failureResult(base, check.image, resolved.error);
  const digest = resolved.value;

  const verify = async (signal: AbortSignal | undefined): Promise<Verdict> => {
    const reads = fetcher.under(signal);
    // Legacy `.sig` signatures and Sigstore bundles of every location, and the `.att` attestations
    // (only when the entry has attestations), all at once (ADR 6 decides which count).
    const attestationEvidence =
      check.entry.attestations.length > 0
        ? gatherEvidence(
            check.entry.attestations.flatMap((attestation) =>
              attestorLocations(check, attestation.attestorSets),
            ),
            (location) => reads.cosignAttestations(location, digest),
            (location) => reads.sigstoreBundles(location, digest),
          )
        : undefined;
    const evidence = await gatherEvidence(
      attestorLocations(check, check.entry.attestorSets),
      (location) => reads.cosignSignatures(location, digest),
      (location) => reads.sigstoreBundles(location, digest),
    );
    const context = {
      trust: options.trust ?? publicGoodTrustRoots(),
      type: check.entry.type,
      now: options.now,
    };
    const signatures = evaluateAttestorSets(
      check.entry.attestorSets,
      digest,
      (attestor) => evidence(locationFor(check, attestor)),
      context,
    );
    if (signatures.status === 'fail' || !attestationEvidence) return signatures;
    const attestationsFound = await attestationEvidence;
    const attestations = evaluateAttestations(
      check.entry.attestations,
      digest,
      (attestor) => attestationsFound(locationFor(check, attestor)),
      { ...context, variables: { ...check.variables(), image: imageInfoVariable(ref, digest) } },
    );
    return combine(signatures, attestations);
  };

  let verdict: Verdict;
  let cacheHit = false;
  if (cache && check.entry.useCache) {
    const key = VerificationCache.key({
      policySetVersion,
      attestor: attestorKey(check) + conditionInputs(check),
      digest,
    });
    const cached = cache.get(key);
    cacheHit = cached !== undefined;
    // Shared with concurrent reviews: it runs until the last of them gives up, and this one
    // leaves at its own deadline.
    verdict =
      cached ??
      (await cache
        .shared(
          key,
          fetcher.signal,
          verify,
          (result) => (result.status === 'error' ? undefined : result),
          () => registryTimeout(ref.registry),
        )
        .catch((error: unknown): Verdict => ({ status: 'error', reason: describeError(error) })));
  } else {
    verdict = await verify(fetcher.signal);
  }
  return verdictResult({ ...base, cacheHit }, check, ref, digest, verdict);
}

/** Why signatures could not be fetched: content the registry got wrong is "not trusted", the rest "could not check". */
function unfetched(error: unknown): { ok: false; trusted: false | 'unknown'; reason: string } {
  return error instanceof RegistryContentError
    ? { ok: false, trusted: false, reason: describeError(error) }
    : { ok: false, trusted: 'unknown', reason: describeError(error ?? 'signatures were not fetched') };
}

/** The signatures' outcome, then the attestations': a definite failure of either decides first. */
function combine(signatures: AttestorOutcome, attestations: AttestorOutcome): Verdict {
  if (attestations.status === 'fail') return { ...attestations, attestation: true };
  if (signatures.status === 'error') return signatures;
  return attestations;
}

/**
 * Legacy layers (`.sig` or `.att`) and Sigstore bundles at every location, all fetched at once
 * through the review's shared fetches; looked up by location afterwards.
 */
async function gatherEvidence(
  locations: readonly SignatureLocation[],
  legacyAt: (location: SignatureLocation) => Promise<Settled<SignatureLayer[]>>,
  bundlesAt: (location: SignatureLocation) => Promise<Settled<SigstoreBundleArtifact[]>>,
): Promise<(location: SignatureLocation) => AttestorEvidence> {
  const unique = new Map(locations.map((location) => [locationKey(location), location]));
  const found = new Map(
    await Promise.all(
      [...unique].map(async ([key, location]) => {
        const [legacy, bundles] = await Promise.all([legacyAt(location), bundlesAt(location)]);
        const evidence: AttestorEvidence = {
          legacy: legacy.ok ? { ok: true, layers: legacy.value } : unfetched(legacy.error),
          bundles: bundles.ok ? { ok: true, bundles: bundles.value } : unfetched(bundles.error),
        };
        return [key, evidence] as const;
      }),
    ),
  );
  const missing: AttestorEvidence = { legacy: unfetched(undefined), bundles: unfetched(undefined) };
  return (location) => found.get(locationKey(location)) ?? missing;
}

const CONDITION_VARIABLE = /\{\{(.+?)\}\}/gs;

/**
 * What a verdict depends on besides the digest: attestation conditions that read `image` make it
 * depend on the image reference (its tag), ones that read `request` or `images` on the request.
 */
function conditionInputs(check: PlannedCheck): string {
  const variables = [
    ...JSON.stringify(check.entry.attestations.map((item) => item.conditions)).matchAll(CONDITION_VARIABLE),
  ].map((match) => match[1] ?? '');
  let inputs = '';
  if (variables.some((text) => /\bimage\b/.test(text))) inputs += `|image=${check.image}`;
  if (variables.some((text) => /\b(?:request|images)\b/.test(text))) {
    inputs += `|request=${createHash('sha256').update(JSON.stringify(check.variables())).digest('hex')}`;
  }
  return inputs;
}

/** Identifies a verifyImages entry (and so its attestors) within a policy set version. */
function attestorKey(check: PlannedCheck): string {
  const { policy } = check.binding;
  return `${policy.kind}/${policy.namespace ?? ''}/${policy.name}/${check.binding.rule.name}/${check.entry.path}`;
}

function locationKey(location: SignatureLocation): string {
  return `${location.registry}/${location.repository}`;
}

/**
 * Pairs every image site with every verifyImages entry whose references match it (`applicable`,
 * counted by `matchedSites`); `checks` are those to verify now. On UPDATE a pair is left out of
 * `checks` only when the stored object's `imagegate.io/policy-set` annotation records the current
 * policy set and exactly the pairs the current rules find in the stored object — so every entry
 * that applies now verified that image there — and the pair is one of them (ADR 4).
 */
function planChecks(
  request: AdmissionRequest,
  bindings: readonly RuleBinding[],
  policySetVersion: string,
): { checks: PlannedCheck[]; matchedSites: number; applicable: PlannedCheck[] } {
  const checks: PlannedCheck[] = [];
  let matchedSites = 0;
  const kind = request.kind.kind;
  let requestContext: Record<string, unknown> | undefined;
  const recorded = request.operation === 'UPDATE' ? recordedVerification(request.oldObject) : undefined;
  const previous = recorded?.policySet === policySetVersion ? request.oldObject : undefined;
  for (const binding of bindings) {
    // A rule whose preconditions do not hold is skipped, as Kyverno reports it: no check, no warning.
    if (!preconditionsHold(binding.rule, request).passed) continue;
    let ruleContext: Record<string, unknown> | undefined;
    const variables = () =>
      (ruleContext ??= {
        request: (requestContext ??= requestVariable(request)),
        images: imagesVariable(request, binding.rule),
      });
    const locators = binding.rule.imageExtractors[kind];
    const sites = extractImageSites(kind, request.object, locators);
    for (const entry of binding.rule.verifyImages) {
      for (const site of sites) {
        let ref: ImageReference | ImageReferenceError;
        try {
          ref = parseImageReference(site.image);
        } catch (error) {
          if (!(error instanceof ImageReferenceError)) throw error;
          ref = error;
        }
        // A reference that cannot be read (or is too long) is a failed check for every entry of
        // every rule that applies, never "not matched": fail closed (ADR 11).
        const image =
          ref instanceof ImageReferenceError ? displayImageText(site.image) : formatReference(ref);
        if (!(ref instanceof ImageReferenceError) && !imageMatchesAny(entry.imageReferences, ref)) continue;
        matchedSites++;
        const skipped =
          !(ref instanceof ImageReferenceError) && imageMatchesAny(entry.skipImageReferences, ref);
        checks.push({ binding, entry, site, image, ref, skipped, variables });
      }
    }
  }
  if (!previous || !recorded) return { checks, matchedSites, applicable: checks };
  // The same rules over the stored object (no oldObject, so no recursion): only if they find
  // exactly the recorded pairs was each of them verified at the last write.
  const stored = planChecks(
    { ...request, object: previous, oldObject: undefined },
    bindings,
    policySetVersion,
  ).applicable.map((check) => verifiedImage(check, check.site.image));
  if (verificationFingerprint(stored) !== recorded.fingerprint) {
    return { checks, matchedSites, applicable: checks };
  }
  const verifiedBefore = new Set(stored.map(verifiedImageKey));
  const fresh = checks.filter(
    (check) => !verifiedBefore.has(verifiedImageKey(verifiedImage(check, check.site.image))),
  );
  return { checks: fresh, matchedSites, applicable: checks };
}

/** What an annotation records of one check: its entry, pointer and the image as stored. */
function verifiedImage(check: PlannedCheck, storedImage: string): VerifiedImage {
  const { policy } = check.binding;
  return {
    entry: JSON.stringify([policy.kind, policy.namespace ?? '', policy.name, check.entry.path]),
    pointer: check.site.pointer,
    image: storedImage,
  };
}

/** Where the signatures of each attestor of `sets` live: entry, then rule `repository`, else the image's. */
function attestorLocations(check: PlannedCheck, sets: readonly AttestorSet[]): SignatureLocation[] {
  return leafAttestors(sets).map((attestor) => locationFor(check, attestor));
}

function locationFor(check: PlannedCheck, attestor: LeafAttestor): SignatureLocation {
  const override = attestor.repository ?? check.entry.repository;
  if (override) {
    const parsed = parseImageReference(override);
    return { registry: parsed.registry, repository: parsed.repository };
  }
  const ref = check.ref as ImageReference;
  return { registry: ref.registry, repository: ref.repository };
}

function verdictResult(
  base: Pick<ImageCheckResult, 'binding' | 'entry' | 'site' | 'image' | 'cacheHit'>,
  check: PlannedCheck,
  ref: ImageReference,
  digest: string,
  verdict: Verdict,
): ImageCheckResult {
  switch (verdict.status) {
    case 'pass':
      // verifyDigest: an image left unpinned (mutateDigest off) could be swapped after this check.
      if (!ref.digest && !check.entry.mutateDigest && check.entry.verifyDigest) {
        return { ...base, status: 'fail', message: `missing digest for ${check.image}`, digest };
      }
      return {
        ...base,
        status: 'pass',
        message:
          check.entry.attestations.length > 0
            ? `verified image attestations for ${check.image}`
            : `verified image signatures for ${check.image}`,
        digest,
        ref,
      };
    case 'fail':
      return {
        ...base,
        status: 'fail',
        message: verdict.attestation
          ? `image attestations verification failed for ${check.image}: ${verdict.reason}`
          : `image verification failed for ${check.image}: ${verdict.reason}`,
        digest,
      };
    case 'error':
      return {
        ...base,
        status: 'error',
        message: `could not verify image ${check.image}: ${verdict.reason}`,
        digest,
      };
  }
}

/**
 * A digest that could not be resolved: content the registry got wrong (or no such image) is
 * "not trusted"; anything else — the registry could not be asked, or an internal fault — is
 * "could not check", decided by the failure policy.
 */
function failureResult(
  base: Pick<ImageCheckResult, 'binding' | 'entry' | 'site' | 'image' | 'cacheHit'>,
  image: string,
  error: unknown,
): ImageCheckResult {
  if (error instanceof RegistryContentError) {
    return { ...base, status: 'fail', message: `image verification failed for ${image}: ${error.message}` };
  }
  return { ...base, status: 'error', message: `could not verify image ${image}: ${describeError(error)}` };
}

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}
