import type { SignatureLayer } from '../oci/cosign';
import type { SigstoreBundleArtifact } from '../oci/referrers';
import type { AttestorSet, LeafAttestor } from '../policy/types';
import { verifyBundleArtifacts } from './bundle';
import { resolveCheck, type VerificationContext } from './checks';
import { verifyLegacySignatures, type SignatureVerdict } from './legacy';
import { publicGoodTrustRoots } from './trust-roots';

export type { VerificationContext } from './checks';

/** The legacy `.sig` signatures found at one location, or why they could not be fetched. */
export type FetchedSignatures =
  | { readonly ok: true; readonly layers: readonly SignatureLayer[] }
  | { readonly ok: false; readonly trusted: false; readonly reason: string }
  | { readonly ok: false; readonly trusted: 'unknown'; readonly reason: string };

/** The Sigstore bundles referring to the image at one location, or why they could not be fetched. */
export type FetchedBundles =
  | { readonly ok: true; readonly bundles: readonly SigstoreBundleArtifact[] }
  | { readonly ok: false; readonly trusted: false; readonly reason: string }
  | { readonly ok: false; readonly trusted: 'unknown'; readonly reason: string };

/** Everything fetched for one leaf attestor's signature location. */
export interface AttestorEvidence {
  readonly legacy: FetchedSignatures;
  readonly bundles: FetchedBundles;
}

/** Outcome of checking an image digest against a rule's attestor sets. */
export type AttestorOutcome =
  | { readonly status: 'pass' }
  | { readonly status: 'fail'; readonly reason: string }
  | { readonly status: 'error'; readonly reason: string };

/** Evidence lookup: the full evidence, or (before bundles are fetched) the legacy signatures alone. */
export type EvidenceLookup = (attestor: LeafAttestor) => AttestorEvidence | FetchedSignatures;

const NO_BUNDLES: FetchedBundles = { ok: true, bundles: [] };

/**
 * Every attestor set must pass; a set passes when `count` of its entries (all when unset)
 * verify. Each leaf attestor is verified against the evidence at its location, per the entry's
 * `type` (ADR 6). When the entries that could not be checked would decide the set, the outcome is
 * an error ("could not check"), not a failure. Pure: no I/O and no clock (`context.now` is the
 * caller's). Without `context`, the shipped public-good trust root and `type: Cosign` are used.
 */
export function evaluateAttestorSets(
  sets: readonly AttestorSet[],
  imageDigest: string,
  evidenceFor: EvidenceLookup,
  context?: VerificationContext,
): AttestorOutcome {
  const effective: VerificationContext = context ?? { trust: publicGoodTrustRoots(), type: 'Cosign' };
  let firstError: AttestorOutcome | undefined;
  for (const set of sets) {
    const outcome = evaluateSet(set, imageDigest, evidenceFor, effective);
    if (outcome.status === 'fail') return outcome;
    if (outcome.status === 'error') firstError ??= outcome;
  }
  return firstError ?? { status: 'pass' };
}

function evaluateSet(
  set: AttestorSet,
  imageDigest: string,
  evidenceFor: EvidenceLookup,
  context: VerificationContext,
): AttestorOutcome {
  const required = set.count ?? set.entries.length;
  let passed = 0;
  const failures: string[] = [];
  const errors: string[] = [];
  for (const attestor of set.entries) {
    const outcome =
      attestor.kind === 'set'
        ? evaluateSet(attestor.set, imageDigest, evidenceFor, context)
        : evaluateLeaf(attestor, imageDigest, evidenceFor, context);
    if (outcome.status === 'pass') passed++;
    else (outcome.status === 'error' ? errors : failures).push(outcome.reason);
  }
  return setVerdict(required, passed, failures, errors);
}

/**
 * An attestor set's verdict from its entries': it passes with `required` passing entries; when the
 * entries that could not be checked would decide it, it is an error ("could not check"), else a
 * failure.
 */
export function setVerdict(
  required: number,
  passed: number,
  failures: readonly string[],
  errors: readonly string[],
): AttestorOutcome {
  if (passed >= required) return { status: 'pass' };
  if (passed + errors.length >= required) return { status: 'error', reason: distinct(errors) };
  return { status: 'fail', reason: distinct(failures.length > 0 ? failures : errors) };
}

/**
 * One attestor. `SigstoreBundle`: bundles only. `Cosign`: bundles when the image has any, else
 * the legacy `.sig` signatures (cosign v3). When the bundle lookup failed, a legacy signature
 * that verifies still passes; otherwise the lookup's failure decides.
 */
function evaluateLeaf(
  attestor: LeafAttestor,
  imageDigest: string,
  evidenceFor: EvidenceLookup,
  context: VerificationContext,
): AttestorOutcome {
  const found = evidenceFor(attestor);
  const evidence: AttestorEvidence = 'legacy' in found ? found : { legacy: found, bundles: NO_BUNDLES };
  const check = resolveCheck(attestor, context);
  const { bundles, legacy } = evidence;

  if (context.type === 'SigstoreBundle' || (bundles.ok && bundles.bundles.length > 0)) {
    if (!bundles.ok) return unfetched(bundles);
    return outcomeOf(verifyBundleArtifacts(bundles.bundles, imageDigest, check));
  }
  const legacyOutcome = legacy.ok
    ? outcomeOf(verifyLegacySignatures(legacy.layers, imageDigest, check))
    : unfetched(legacy);
  if (bundles.ok || legacyOutcome.status === 'pass') return legacyOutcome;
  // The image may have bundles we could not read: only a passing legacy signature decides.
  if (bundles.trusted === 'unknown') return { status: 'error', reason: bundles.reason };
  return { status: legacyOutcome.status, reason: `${legacyOutcome.reason}; ${bundles.reason}` };
}

function outcomeOf(verdict: SignatureVerdict): AttestorOutcome {
  return verdict.verified ? { status: 'pass' } : { status: 'fail', reason: verdict.reason };
}

function unfetched(fetched: {
  readonly trusted: false | 'unknown';
  readonly reason: string;
}): AttestorOutcome {
  return { status: fetched.trusted === 'unknown' ? 'error' : 'fail', reason: fetched.reason };
}

/** Every leaf attestor of the sets, nested sets included. */
export function leafAttestors(sets: readonly AttestorSet[]): LeafAttestor[] {
  return sets.flatMap((set) =>
    set.entries.flatMap((attestor) => (attestor.kind === 'set' ? leafAttestors([attestor.set]) : [attestor])),
  );
}

function distinct(reasons: readonly string[]): string {
  return [...new Set(reasons)].join('; ');
}
