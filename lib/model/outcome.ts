/**
 * What one check of one image came to, as data: its Kyverno status, and for every status but a
 * pass the typed cause. Messages (lib/decision/messages.ts), decisions, records and metrics all
 * read the cause; none of them parses text.
 */
import type { RegistryContentErrorCode, RegistryErrorCode } from './registry-errors';
import type { ResourceLimitCode } from './byte-budget';
import type { VerificationFailureCode } from './verification';

/** Kyverno's rule statuses: pass, fail (not trusted), error (could not check), skip. */
export type CheckStatus = 'pass' | 'fail' | 'error' | 'skip';

/** The registry codes a check can end on: the client's, the content checks', the byte budgets'. */
export type RegistryCauseCode = RegistryErrorCode | RegistryContentErrorCode | ResourceLimitCode;

/** Why verification failed, as lib/verify names it. */
export type VerificationFailure = VerificationFailureCode;

/**
 * Why a check did not pass. `detail` is the words of the layer that found the problem (the
 * registry client's error message, the verifier's reason): shown after Kyverno's prefix, never read
 * back. `attestations` says the attestations (not the signatures) decided, which Kyverno words
 * differently.
 */
export type CheckCause =
  | {
      readonly kind: 'registry';
      readonly code: RegistryCauseCode;
      readonly registry: string;
      readonly status?: number;
      readonly detail: string;
      readonly attestations?: boolean;
    }
  | {
      readonly kind: 'verification';
      readonly failure: VerificationFailure;
      readonly detail: string;
      readonly attestations?: boolean;
    }
  /** The image reference cannot be read (or is too long): fail closed (ADR 11). */
  | { readonly kind: 'reference'; readonly detail: string }
  /** The review's deadline came before `registry` answered. */
  | { readonly kind: 'deadline'; readonly registry: string; readonly detail: string }
  /** Verified, but `verifyDigest` wants a digest the image does not name and `mutateDigest` would not add. */
  | { readonly kind: 'digest-missing' }
  /** `skipImageReferences` matched. */
  | { readonly kind: 'skipped' }
  /** Anything else that kept the check from running (a fault of imagegate's own). */
  | { readonly kind: 'internal'; readonly detail: string };

export type CheckCauseKind = CheckCause['kind'];

/**
 * What one check did to the answer, as lib/decision/decide.ts decided it: `block` (an Enforce
 * failure, or an error under failurePolicy Fail), `warn` (Audit failures, errors under failurePolicy
 * Ignore, skips) or `none` (a pass).
 */
export type CheckEffect = 'none' | 'warn' | 'block';

/** Registry content codes: the registry answered with something that cannot be trusted ("not trusted"). */
const CONTENT_CODES: ReadonlySet<RegistryCauseCode> = new Set<RegistryContentErrorCode>([
  'DIGEST_MISMATCH',
  'UNEXPECTED_MEDIA_TYPE',
  'TOO_LARGE',
  'TRUNCATED',
  'MALFORMED',
  'NOT_FOUND',
  'ADDRESS_REFUSED',
]);

/**
 * The status a cause gives a check: content the registry got wrong, a failed verification, an
 * unreadable reference or a missing digest is "not trusted" (`fail`); a registry that could not be
 * asked, a byte budget, the deadline or an internal fault is "could not check" (`error`).
 */
export function statusOf(cause: CheckCause): Exclude<CheckStatus, 'pass'> {
  switch (cause.kind) {
    case 'registry':
      return CONTENT_CODES.has(cause.code) ? 'fail' : 'error';
    case 'verification':
    case 'reference':
    case 'digest-missing':
      return 'fail';
    case 'skipped':
      return 'skip';
    case 'deadline':
    case 'internal':
      return 'error';
  }
}

/** Why a review failed before deciding (it then denied): its deadline passed first, or anything else. */
export type ReviewFailureCause = { readonly kind: 'deadline' } | { readonly kind: 'internal' };
