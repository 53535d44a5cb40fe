/**
 * One evaluator for attestor sets, generic over the leaf check: signatures (a leaf establishes
 * which evidence verified) and attestations (a leaf establishes the verified statements) share the
 * `count` and nesting rules, the bundle-first rule ({@link chooseEvidence}) and what unfetched
 * evidence means ({@link unfetched}).
 */
import type { SignatureLayer, SigstoreBundleArtifact } from '../model/evidence';
import type {
  AttestorOutcome,
  LeafOutcome,
  VerificationError,
  VerificationFailure,
} from '../model/verification';
import type { AttestorEvidence, AttestorSet, LeafAttestor, SignatureFormat, UnfetchedEvidence } from './spec';

/** Checks one leaf attestor against its evidence. */
export type LeafCheck<T> = (attestor: LeafAttestor) => LeafOutcome<T>;

/** One attestor set's outcome, what its passing leaves established, and its counts. */
export interface SetResult<T> {
  readonly outcome: AttestorOutcome;
  /** The values of every leaf that passed, at any depth, in order (also when the set did not pass). */
  readonly values: readonly T[];
  /** Entries that passed, and how many must (`count`, or all entries). */
  readonly verified: number;
  readonly required: number;
}

/** The outcome of a list of attestor sets, and the set that decided a failure or error. */
export interface SetsResult<T> {
  readonly outcome: AttestorOutcome;
  /** The values of every passing leaf of the sets evaluated (up to a failing one). */
  readonly values: readonly T[];
  /** The failing set, or the first set in error; `undefined` on a pass. */
  readonly deciding: SetResult<T> | undefined;
}

const PASS: AttestorOutcome = { status: 'pass' };

/**
 * Every set must pass; the first failing set decides, else the first set in error ("could not
 * check"), else the sets pass. Sets after a failing one are not evaluated.
 */
export function evaluateSets<T>(sets: readonly AttestorSet[], leaf: LeafCheck<T>): SetsResult<T> {
  const values: T[] = [];
  let firstError: SetResult<T> | undefined;
  for (const set of sets) {
    const result = evaluateSet(set, leaf);
    values.push(...result.values);
    if (result.outcome.status === 'fail') return { outcome: result.outcome, values, deciding: result };
    if (result.outcome.status === 'error') firstError ??= result;
  }
  return { outcome: firstError?.outcome ?? PASS, values, deciding: firstError };
}

/**
 * A set passes when `count` of its entries (all when unset) pass; a nested set is one entry. When
 * the entries that could not be checked would decide the set, it is an error ("could not check"),
 * else a failure.
 */
export function evaluateSet<T>(set: AttestorSet, leaf: LeafCheck<T>): SetResult<T> {
  const required = set.count ?? set.entries.length;
  let verified = 0;
  const values: T[] = [];
  const failures: VerificationFailure[] = [];
  const errors: VerificationError[] = [];
  for (const attestor of set.entries) {
    let outcome: AttestorOutcome;
    if (attestor.kind === 'set') {
      const nested = evaluateSet(attestor.set, leaf);
      values.push(...nested.values);
      outcome = nested.outcome;
    } else {
      const result = leaf(attestor);
      if (result.status === 'pass') values.push(result.value);
      outcome = result;
    }
    if (outcome.status === 'pass') verified++;
    else if (outcome.status === 'error') errors.push(outcome);
    else failures.push(outcome);
  }
  return { outcome: setOutcome(set, required, verified, failures, errors), values, verified, required };
}

function setOutcome(
  set: AttestorSet,
  required: number,
  verified: number,
  failures: readonly VerificationFailure[],
  errors: readonly VerificationError[],
): AttestorOutcome {
  if (verified >= required) return PASS;
  if (verified + errors.length >= required) {
    return { status: 'error', reason: distinct(errors), cause: errors[0]?.cause };
  }
  const [first] = failures;
  // Some verified, but not the `count` asked for: the count decided, not one entry's failure.
  const failure = first && !(verified > 0 && set.count !== undefined) ? first.failure : 'COUNT_NOT_MET';
  const deciding = failures.length > 0 ? failures : errors;
  return { status: 'fail', failure, reason: distinct(deciding), cause: deciding[0]?.cause };
}

/** How to verify each kind of evidence for one leaf. */
export interface EvidenceVerifiers<T> {
  readonly bundles: (bundles: readonly SigstoreBundleArtifact[]) => LeafOutcome<T>;
  readonly legacy: (layers: readonly SignatureLayer[]) => LeafOutcome<T>;
}

/**
 * The bundle-first rule (ADR 6), for signatures and attestations alike. `SigstoreBundle`: bundles
 * only. `Cosign`: bundles when the image has any, else the legacy `.sig` / `.att` layers (cosign
 * v3). When the bundle lookup failed, a legacy signature that verifies still passes; otherwise the
 * lookup's failure decides.
 */
export function chooseEvidence<T>(
  type: SignatureFormat,
  evidence: AttestorEvidence,
  verify: EvidenceVerifiers<T>,
): LeafOutcome<T> {
  const { bundles, legacy } = evidence;
  if (type === 'SigstoreBundle' || (bundles.ok && bundles.bundles.length > 0)) {
    return bundles.ok ? verify.bundles(bundles.bundles) : unfetched(bundles);
  }
  const legacyOutcome = legacy.ok ? verify.legacy(legacy.layers) : unfetched(legacy);
  if (bundles.ok || legacyOutcome.status === 'pass') return legacyOutcome;
  // The image may have bundles we could not read: only a passing legacy signature decides.
  if (bundles.trusted === 'unknown') return unfetched(bundles);
  return {
    ...legacyOutcome,
    reason: `${legacyOutcome.reason}; ${bundles.reason}`,
    cause: legacyOutcome.cause ?? bundles.cause,
  };
}

/** Evidence that could not be fetched: content the registry got wrong is "not trusted", the rest "could not check". */
export function unfetched(fetched: UnfetchedEvidence): VerificationFailure | VerificationError {
  return fetched.trusted === 'unknown'
    ? { status: 'error', reason: fetched.reason, cause: fetched.cause }
    : { status: 'fail', failure: 'UNTRUSTED_CONTENT', reason: fetched.reason, cause: fetched.cause };
}

/** Every leaf attestor of the sets, nested sets included. */
export function leafAttestors(sets: readonly AttestorSet[]): LeafAttestor[] {
  return sets.flatMap((set) =>
    set.entries.flatMap((attestor) => (attestor.kind === 'set' ? leafAttestors([attestor.set]) : [attestor])),
  );
}

function distinct(outcomes: readonly { readonly reason: string }[]): string {
  return [...new Set(outcomes.map((outcome) => outcome.reason))].join('; ');
}
