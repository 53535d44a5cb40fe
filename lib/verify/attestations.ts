/** An image's attestations: the statement leaf of the attestor-set evaluator, then the conditions. */
import { chooseEvidence, evaluateSets } from './attestor-sets';
import type { AttestorOutcome, LeafOutcome } from '../model/verification';
import {
  resolveCheck,
  type AttestationSpec,
  type AttestorEvidence,
  type LeafAttestor,
  type VerificationContext,
} from './spec';
import {
  verifyAttestationLayers,
  verifyBundleStatements,
  type StatementsVerdict,
  type VerifiedStatement,
} from './statements';

/** The evidence (`.att` layers and Sigstore bundles) at a leaf attestor's location. */
export type AttestationLookup = (attestor: LeafAttestor) => AttestorEvidence;

/** One condition block's result: whether it held, and the conditions that did not. */
export interface ConditionCheck {
  readonly passed: boolean;
  readonly failed: readonly string[];
}

/** What verifying attestations needs besides the evidence. */
export interface AttestationContext<C> extends VerificationContext {
  /**
   * Variables the conditions see besides the predicate (whose fields are merged at the root, as
   * Kyverno does): `image`, `request`, `images`.
   */
  readonly variables: Readonly<Record<string, unknown>>;
  /**
   * Evaluates one condition block over a statement's variables (the caller's condition language;
   * it must not throw: a variable that cannot be evaluated is a failed condition).
   */
  readonly evaluateCondition: (condition: C, variables: Readonly<Record<string, unknown>>) => ConditionCheck;
}

/**
 * Checks an image's attestations: for each, every attestor set must pass (`count` of its entries,
 * all when unset), where an entry passes when it verifies at least one in-toto statement of the
 * attestation's predicate type for this digest; then every statement so verified must satisfy
 * every conditions block. Statements come from the Sigstore bundles when the image has any (or
 * with `type: SigstoreBundle`), else from the legacy `.att` layers (as `cosign verify-attestation`
 * v3). Pure: no I/O, no clock besides `context.now`.
 */
export function evaluateAttestations<C>(
  attestations: readonly AttestationSpec<C>[],
  imageDigest: string,
  evidenceFor: AttestationLookup,
  context: AttestationContext<C>,
): AttestorOutcome {
  let firstError: AttestorOutcome | undefined;
  for (const attestation of attestations) {
    const outcome = evaluateAttestation(attestation, imageDigest, evidenceFor, context);
    if (outcome.status === 'fail') return outcome;
    if (outcome.status === 'error') firstError ??= outcome;
  }
  return firstError ?? { status: 'pass' };
}

/** `attestation "name" of type <type>`, for messages. */
export function attestationLabel(attestation: {
  readonly name: string | undefined;
  readonly type: string;
}): string {
  return `attestation ${attestation.name ? `${JSON.stringify(attestation.name)} ` : ''}of type ${attestation.type}`;
}

function evaluateAttestation<C>(
  attestation: AttestationSpec<C>,
  imageDigest: string,
  evidenceFor: AttestationLookup,
  context: AttestationContext<C>,
): AttestorOutcome {
  const label = attestationLabel(attestation);
  const { outcome, values, deciding } = evaluateSets(attestation.attestorSets, (attestor) => {
    const check = resolveCheck(attestor, context);
    return chooseEvidence(context.type, evidenceFor(attestor), {
      bundles: (bundles) => outcomeOf(verifyBundleStatements(bundles, attestation.type, imageDigest, check)),
      legacy: (layers) => outcomeOf(verifyAttestationLayers(layers, attestation.type, imageDigest, check)),
    });
  });
  if (outcome.status === 'fail') {
    const counts = `verifiedCount: ${deciding?.verified ?? 0}, requiredCount: ${deciding?.required ?? 0}`;
    return { ...outcome, reason: `${label}: ${counts}: ${outcome.reason}` };
  }
  const violation = conditionViolation(attestation, values.flat(), context);
  if (violation)
    return { status: 'fail', failure: 'CONDITIONS', reason: `${label}: conditions failed: ${violation}` };
  return outcome.status === 'error' ? { ...outcome, reason: `${label}: ${outcome.reason}` } : outcome;
}

function outcomeOf(verdict: StatementsVerdict): LeafOutcome<readonly VerifiedStatement[]> {
  return 'statements' in verdict
    ? { status: 'pass', value: verdict.statements }
    : { status: 'fail', failure: verdict.failure, reason: verdict.reason };
}

/** Kyverno's `verifyAttestation`: every statement of the type must satisfy every conditions block. */
function conditionViolation<C>(
  attestation: AttestationSpec<C>,
  statements: readonly VerifiedStatement[],
  context: AttestationContext<C>,
): string | undefined {
  if (attestation.conditions.length === 0) return undefined;
  for (const statement of statements) {
    const { predicate } = statement;
    if (typeof predicate !== 'object' || predicate === null || Array.isArray(predicate)) {
      return `the predicate of ${statement.evidence} is not a JSON object`;
    }
    // The predicate's fields at the root (Kyverno's documented convention), and also under
    // `predicate` (as Kyverno's SigstoreBundle test policies write them).
    const root = { ...context.variables, predicate, ...(predicate as Record<string, unknown>) };
    for (const block of attestation.conditions) {
      const result = context.evaluateCondition(block, root);
      if (!result.passed) return result.failed.join('; ');
    }
  }
  return undefined;
}
