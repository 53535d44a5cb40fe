/** An image's signatures against a rule's attestor sets: the signature leaf of the attestor-set evaluator. */
import { chooseEvidence, evaluateSets } from './attestor-sets';
import { verifyBundleArtifacts } from './bundle';
import type { AttestorOutcome, LeafOutcome, SignatureVerdict } from '../model/verification';
import { verifyLegacySignatures } from './sig-layer';
import {
  resolveCheck,
  type AttestorEvidence,
  type AttestorSet,
  type LeafAttestor,
  type VerificationContext,
} from './spec';

/** The evidence at a leaf attestor's signature location. */
export type EvidenceLookup = (attestor: LeafAttestor) => AttestorEvidence;

/**
 * Every attestor set must pass; a set passes when `count` of its entries (all when unset)
 * verify. Each leaf attestor is verified against the evidence at its location, per the entry's
 * `type` (ADR 6). When the entries that could not be checked would decide the set, the outcome is
 * an error ("could not check"), not a failure. Pure: no I/O and no clock (`context.now` is the
 * caller's).
 */
export function evaluateAttestorSets(
  sets: readonly AttestorSet[],
  imageDigest: string,
  evidenceFor: EvidenceLookup,
  context: VerificationContext,
): AttestorOutcome {
  return evaluateSets(sets, (attestor) => {
    const check = resolveCheck(attestor, context);
    return chooseEvidence(context.type, evidenceFor(attestor), {
      bundles: (bundles) => outcomeOf(verifyBundleArtifacts(bundles, imageDigest, check)),
      legacy: (layers) => outcomeOf(verifyLegacySignatures(layers, imageDigest, check)),
    });
  }).outcome;
}

/** A signature verdict as a leaf outcome: which evidence verified, or why none did. */
function outcomeOf(verdict: SignatureVerdict): LeafOutcome<string> {
  return verdict.verified
    ? { status: 'pass', value: verdict.evidence }
    : { status: 'fail', failure: verdict.failure, reason: verdict.reason };
}
