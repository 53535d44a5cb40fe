/**
 * The review use case: plan (pure) → look up each verdict by policy-set version, verifyImages entry
 * and digest → gather only the misses (lib/review/gather.ts, the one place work is shared) →
 * verify (pure) → decide (pure) → patch (pure).
 */
import type { Deadline } from '../deadline';
import { registryTimeout } from '../deadline';
import { decide, type ImageCheckResult } from '../decision/decide';
import { checkMessage, passMessage } from '../decision/messages';
import { annotationPatch } from '../decision/patch';
import { VerificationCache } from '../cache/verification-cache';
import type { AdmissionDecision, AdmissionRequest } from '../model/admission';
import { statusOf, type CheckCause, type CheckEffect } from '../model/outcome';
import { ImageReferenceError } from '../model/registry-errors';
import type { ImageReference } from '../model/image';
import { selectRules } from '../policy/match';
import type { PolicySet } from '../policy/policy-set';
import type { TrustRoots } from '../verify/trust-roots';
import { causeOfError } from './causes';
import { gatherEvidence, Gatherer, type ReviewReads } from './gather';
import {
  attestorKey,
  attestorLocations,
  conditionInputs,
  planChecks,
  verifiedImage,
  type PlannedCheck,
} from './plan';
import { verifyAttestations, verifySignatures, type Verdict } from './verdict';
import type { ImageSource } from '../ports';

/** What a review is given: its deadline, and what it may share with other reviews of the process. */
export interface ReviewOptions {
  /** When the answer is due; every registry read stops waiting then. */
  readonly deadline?: Deadline | undefined;
  /** Verdicts by digest across reviews; none = verify every time. */
  readonly cache?: VerificationCache | undefined;
  /** Trust roots for certificates, transparency logs and timestamps (lib/runtime.ts loads them). */
  readonly trust: TrustRoots;
  /** The time, for certificates signed without a log entry or timestamp (`rekor.ignoreTlog`). */
  readonly now?: Date | undefined;
}

/** The review's decision, and what was checked for each image (for decision logs and metrics). */
export interface ReviewOutcome {
  readonly decision: AdmissionDecision;
  readonly results: readonly ImageCheckResult[];
  /** What each result did to the answer, as `decide` decided it (`effects[i]` is `results[i]`'s). */
  readonly effects: readonly CheckEffect[];
}

/**
 * Reviews one admission request: selects the rules that apply, resolves every image once,
 * gathers the signatures each verdict not cached needs (all images in parallel, each location
 * once), and decides with pure functions. A verdict cached for the same policy set, attestor entry
 * and digest is reused; a tag is always resolved again, so a moved tag is verified anew. `images`
 * is the process's {@link Gatherer} (shared with concurrent reviews) or a bare source.
 */
export async function reviewAdmission(
  request: AdmissionRequest,
  policySet: PolicySet,
  images: ImageSource | Gatherer,
  options: ReviewOptions,
): Promise<AdmissionDecision> {
  return (await reviewAdmissionInDetail(request, policySet, images, options)).decision;
}

/** {@link reviewAdmission}, also returning the per-image results and their effects. */
export async function reviewAdmissionInDetail(
  request: AdmissionRequest,
  policySet: PolicySet,
  images: ImageSource | Gatherer,
  options: ReviewOptions,
): Promise<ReviewOutcome> {
  if (request.operation === 'DELETE' || request.operation === 'CONNECT') {
    return { ...decide(request, []), results: [] };
  }
  const { checks, applicable } = planChecks(request, selectRules(policySet, request), policySet.version);
  const gatherer = images instanceof Gatherer ? images : new Gatherer(images);
  const reads = gatherer.review(options.deadline);
  const results = await Promise.all(
    checks.map((check) => checkImage(check, policySet.version, gatherer, reads, options)),
  );
  const { decision, effects } = decide(request, results);
  if (!decision.allowed) return { decision, results, effects };
  const annotation = annotationPatch(
    request,
    policySet.version,
    applicable.map((check) => verifiedImage(check, check.site.image)),
    results.every((result) => result.status === 'pass'),
    decision.patch,
  );
  return { decision: { ...decision, patch: [...decision.patch, ...annotation] }, results, effects };
}

type CheckBase = Pick<ImageCheckResult, 'binding' | 'entry' | 'site' | 'image' | 'cacheHit'>;

async function checkImage(
  check: PlannedCheck,
  policySetVersion: string,
  gatherer: Gatherer,
  reads: ReviewReads,
  options: ReviewOptions,
): Promise<ImageCheckResult> {
  const base: CheckBase = {
    binding: check.binding,
    entry: check.entry,
    site: check.site,
    image: check.image,
    cacheHit: false,
  };
  if (check.ref instanceof ImageReferenceError) {
    return notPassed(base, { kind: 'reference', detail: check.ref.message });
  }
  if (check.skipped) return notPassed(base, { kind: 'skipped' });
  const planned = { ...check, ref: check.ref };
  const resolved = await reads.digest(planned.ref);
  if (!resolved.ok) {
    return notPassed(base, causeOfError(resolved.error, options.deadline?.signal, planned.ref.registry));
  }
  const digest = resolved.value;

  const cache = check.entry.useCache ? options.cache : undefined;
  // Without a cache the review verifies with its own reads, as it gathered them.
  if (!cache) {
    return verdictResult(base, planned, digest, await gatherAndVerify(planned, digest, reads, options));
  }
  const key = VerificationCache.key({
    policySetVersion,
    attestor: attestorKey(check) + conditionInputs(check),
    digest,
  });
  const cached = cache.get(key);
  // A miss: gathered and verified once for every review waiting for it, each leaving at its own deadline.
  const verdict =
    cached ??
    (await gatherer
      .verdict(
        key,
        reads,
        async (shared) => {
          const fresh = await gatherAndVerify(planned, digest, shared, options);
          cache.verified(key, fresh.status === 'error' ? undefined : fresh);
          return fresh;
        },
        () => registryTimeout(planned.ref.registry),
      )
      .catch((error: unknown): Verdict => ({
        status: 'error',
        cause: causeOfError(error, options.deadline?.signal, planned.ref.registry),
      })));
  return verdictResult({ ...base, cacheHit: cached !== undefined }, planned, digest, verdict);
}

/**
 * Gathers the evidence of one entry for one digest and verifies it: legacy `.sig` signatures and
 * Sigstore bundles of every location, and the `.att` attestations (only when the entry has
 * attestations), all read at once (ADR 6 decides which count).
 */
async function gatherAndVerify(
  check: PlannedCheck & { readonly ref: ImageReference },
  digest: string,
  reads: ReviewReads,
  options: ReviewOptions,
): Promise<Verdict> {
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
  const context = { trust: options.trust, now: options.now, signal: reads.deadline?.signal };
  const signatures = verifySignatures(check, digest, evidence, context);
  if (signatures.status === 'fail' || !attestationEvidence) return signatures;
  return verifyAttestations(check, digest, signatures, await attestationEvidence, context);
}

function verdictResult(
  base: CheckBase,
  check: PlannedCheck & { readonly ref: ImageReference },
  digest: string,
  verdict: Verdict,
): ImageCheckResult {
  if (verdict.status !== 'pass') return notPassed(base, verdict.cause, digest);
  // verifyDigest: an image left unpinned (mutateDigest off) could be swapped after this check.
  if (!check.ref.digest && !check.entry.mutateDigest && check.entry.verifyDigest) {
    return notPassed(base, { kind: 'digest-missing' }, digest);
  }
  const message = passMessage(check.image, check.entry.attestations.length > 0);
  return { ...base, status: 'pass', message, digest, ref: check.ref };
}

/** A check that did not pass: its status and message follow from its cause. */
function notPassed(base: CheckBase, cause: CheckCause, digest?: string): ImageCheckResult {
  const subject = {
    image: base.image,
    policyName: base.binding.policy.name,
    ruleName: base.binding.ruleName,
  };
  return {
    ...base,
    status: statusOf(cause),
    cause,
    message: checkMessage(subject, cause),
    ...(digest !== undefined ? { digest } : {}),
  };
}
