/**
 * The verify step of a review: one verifyImages entry against the evidence gathered for one
 * digest, as a verdict with a typed cause. Pure and synchronous: the evidence is already read.
 */
import type { CheckCause } from '../model/outcome';
import type { ImageReference } from '../model/image';
import { evaluateSafely } from '../policy/conditions';
import { imageInfoVariable } from '../policy/variables';
import { evaluateAttestations } from '../verify/attestations';
import { evaluateAttestorSets } from '../verify/signatures';
import type { TrustRoots } from '../verify/trust-roots';
import type { VerificationError, VerificationFailure } from '../model/verification';
import { causeOfOutcome } from './causes';
import type { GatheredEvidence } from './gather';
import { locationFor, type PlannedCheck } from './plan';

/** The verdict of one verifyImages entry for one digest; a pass or a fail may be cached. */
export type Verdict =
  | { readonly status: 'pass' }
  | { readonly status: 'fail'; readonly cause: CheckCause }
  | { readonly status: 'error'; readonly cause: CheckCause };

/** What verification is given besides the evidence. */
export interface VerifyContext {
  readonly trust: TrustRoots;
  /** The time, for certificates signed without a log entry or timestamp (`rekor.ignoreTlog`). */
  readonly now?: Date | undefined;
  /** Aborted when the review (or every review sharing this verdict) stopped waiting: a timeout then is the deadline's. */
  readonly signal?: AbortSignal | undefined;
}

/** The check's signatures against its attestor sets. */
export function verifySignatures(
  check: PlannedCheck & { readonly ref: ImageReference },
  digest: string,
  evidence: GatheredEvidence,
  context: VerifyContext,
): Verdict {
  const outcome = evaluateAttestorSets(
    check.entry.attestorSets,
    digest,
    (attestor) => evidence.lookup(locationFor(check, attestor)),
    { trust: context.trust, type: check.entry.type, now: context.now },
  );
  return outcome.status === 'pass' ? outcome : failed(outcome, check.ref, context, false);
}

/**
 * The verdict of the signatures and the attestations together: a definite failure of the
 * signatures decides first (the caller does not gather attestations then), then one of the
 * attestations, then the signatures' error.
 */
export function verifyAttestations(
  check: PlannedCheck & { readonly ref: ImageReference },
  digest: string,
  signatures: Verdict,
  evidence: GatheredEvidence,
  context: VerifyContext,
): Verdict {
  const outcome = evaluateAttestations(
    check.entry.attestations,
    digest,
    (attestor) => evidence.lookup(locationFor(check, attestor)),
    {
      trust: context.trust,
      type: check.entry.type,
      now: context.now,
      variables: { ...check.variables(), image: imageInfoVariable(check.ref, digest) },
      evaluateCondition: evaluateSafely,
    },
  );
  if (outcome.status === 'fail') return failed(outcome, check.ref, context, true);
  if (signatures.status !== 'pass') return signatures;
  return outcome.status === 'pass' ? outcome : failed(outcome, check.ref, context, false);
}

function failed(
  outcome: VerificationFailure | VerificationError,
  ref: ImageReference,
  context: VerifyContext,
  attestations: boolean,
): Verdict {
  const cause = causeOfOutcome(outcome, context.signal, ref.registry, attestations);
  return outcome.status === 'fail' ? { status: 'fail', cause } : { status: 'error', cause };
}
