import type { SignatureLayer } from '../oci/cosign';
import type { Attestor, AttestorSet, KeyAttestor } from '../policy/types';
import { verifyLayersWithKey } from './cosign-key';

/** The signatures found at one location, or why they could not be fetched. */
export type FetchedSignatures =
  | { readonly ok: true; readonly layers: readonly SignatureLayer[] }
  | { readonly ok: false; readonly trusted: false; readonly reason: string }
  | { readonly ok: false; readonly trusted: 'unknown'; readonly reason: string };

/** Outcome of checking an image digest against a rule's attestor sets. */
export type AttestorOutcome =
  | { readonly status: 'pass' }
  | { readonly status: 'fail'; readonly reason: string }
  | { readonly status: 'error'; readonly reason: string };

/**
 * Every attestor set must pass; a set passes when `count` of its entries (all when unset)
 * verify. When the entries that could not be checked would decide the set, the outcome is
 * an error ("could not check"), not a failure.
 */
export function evaluateAttestorSets(
  sets: readonly AttestorSet[],
  imageDigest: string,
  signaturesFor: (attestor: KeyAttestor) => FetchedSignatures,
): AttestorOutcome {
  let firstError: AttestorOutcome | undefined;
  for (const set of sets) {
    const outcome = evaluateSet(set, imageDigest, signaturesFor);
    if (outcome.status === 'fail') return outcome;
    if (outcome.status === 'error') firstError ??= outcome;
  }
  return firstError ?? { status: 'pass' };
}

function evaluateSet(
  set: AttestorSet,
  imageDigest: string,
  signaturesFor: (attestor: KeyAttestor) => FetchedSignatures,
): AttestorOutcome {
  const required = set.count ?? set.entries.length;
  let passed = 0;
  const failures: string[] = [];
  const errors: string[] = [];
  for (const attestor of set.entries) {
    const outcome = evaluateAttestor(attestor, imageDigest, signaturesFor);
    if (outcome.status === 'pass') passed++;
    else (outcome.status === 'error' ? errors : failures).push(outcome.reason);
  }
  if (passed >= required) return { status: 'pass' };
  if (passed + errors.length >= required) return { status: 'error', reason: distinct(errors) };
  return { status: 'fail', reason: distinct(failures.length > 0 ? failures : errors) };
}

function evaluateAttestor(
  attestor: Attestor,
  imageDigest: string,
  signaturesFor: (attestor: KeyAttestor) => FetchedSignatures,
): AttestorOutcome {
  if (attestor.kind === 'set') return evaluateSet(attestor.set, imageDigest, signaturesFor);
  const signatures = signaturesFor(attestor);
  if (!signatures.ok) {
    return { status: signatures.trusted === 'unknown' ? 'error' : 'fail', reason: signatures.reason };
  }
  const result = verifyLayersWithKey(signatures.layers, imageDigest, attestor);
  return result.verified ? { status: 'pass' } : { status: 'fail', reason: result.reason };
}

/** Every leaf (key) attestor of the sets, nested sets included. */
export function leafAttestors(sets: readonly AttestorSet[]): KeyAttestor[] {
  return sets.flatMap((set) =>
    set.entries.flatMap((attestor) => (attestor.kind === 'set' ? leafAttestors([attestor.set]) : [attestor])),
  );
}

function distinct(reasons: readonly string[]): string {
  return [...new Set(reasons)].join('; ');
}
