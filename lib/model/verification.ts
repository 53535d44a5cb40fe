/**
 * What verification comes to, as data: every failure names its kind (`failure`) next to the
 * Kyverno-compatible `reason` text, and every error carries what kept the check from running
 * (`cause`). Nothing downstream needs to read the text. Imports nothing.
 */

/**
 * Why a signature or attestation was not trusted.
 *
 * - `NO_SIGNATURES`: no signature (no `.sig` layer, no Sigstore bundle) to check.
 * - `ATTESTATION_NOT_FOUND`: no attestation of the predicate type.
 * - `MALFORMED_EVIDENCE`: a bundle, envelope or layer that cannot be read, or of a form not accepted.
 * - `UNTRUSTED_CONTENT`: the registry served content that fails its checks (digest, size, shape).
 * - `NO_CERTIFICATE`: a certificate attestor, but the signature carries no certificate (made with a key).
 * - `CHAIN`: the certificate does not chain to a trusted CA.
 * - `IDENTITY_MISMATCH`: the certificate's identity is not the attestor's.
 * - `INVALID_SIGNATURE`: the signature does not verify with the signer's key.
 * - `LOG`: the transparency-log proof is missing or invalid, and the attestor requires it.
 * - `TIMESTAMP`: the RFC 3161 timestamp is missing or invalid, and the attestor requires it.
 * - `UNREADABLE_TIMESTAMP`: a required timestamp whose genTime cannot be read.
 * - `SCT`: the certificate has no valid SCT, and the attestor requires one.
 * - `NO_SIGNING_TIME`: nothing dates the signature to check the certificate's validity against.
 * - `VALIDITY`: the certificate (or a CA) was not valid when the signature was made.
 * - `PAYLOAD`: the signed payload is not a simple-signing document or in-toto statement.
 * - `DIGEST_MISMATCH`: the signed payload names another digest.
 * - `ANNOTATIONS`: the required annotations are missing or differ.
 * - `CONDITIONS`: a verified attestation does not satisfy the conditions.
 * - `COUNT_NOT_MET`: some entries of an attestor set verified, but fewer than `count`.
 */
export type VerificationFailureCode =
  | 'NO_SIGNATURES'
  | 'ATTESTATION_NOT_FOUND'
  | 'MALFORMED_EVIDENCE'
  | 'UNTRUSTED_CONTENT'
  | 'NO_CERTIFICATE'
  | 'CHAIN'
  | 'IDENTITY_MISMATCH'
  | 'INVALID_SIGNATURE'
  | 'LOG'
  | 'TIMESTAMP'
  | 'UNREADABLE_TIMESTAMP'
  | 'SCT'
  | 'NO_SIGNING_TIME'
  | 'VALIDITY'
  | 'PAYLOAD'
  | 'DIGEST_MISMATCH'
  | 'ANNOTATIONS'
  | 'CONDITIONS'
  | 'COUNT_NOT_MET';

/**
 * How far one signature got; when every signature fails, the reason of the one that got
 * furthest is reported.
 */
export const Stage = {
  Material: 0,
  Chain: 1,
  Identity: 2,
  Signature: 3,
  Log: 4,
  Timestamp: 5,
  Sct: 6,
  Validity: 7,
  Payload: 8,
  Digest: 9,
  Annotations: 10,
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** Why one signature (layer, bundle, envelope) did not verify, and how far it got. */
export interface StageFailure {
  readonly stage: Stage;
  readonly failure: VerificationFailureCode;
  readonly reason: string;
}

/** Not trusted: `failure` says why, `reason` in Kyverno's words; `cause` when fetched content decided. */
export interface VerificationFailure {
  readonly status: 'fail';
  readonly failure: VerificationFailureCode;
  readonly reason: string;
  readonly cause?: unknown;
}

/**
 * Could not check: `cause` is what kept the check from running, as the evidence lookup reported it
 * (a RegistryError, ResourceLimitError, deadline…; `undefined` when the evidence was never fetched).
 */
export interface VerificationError {
  readonly status: 'error';
  readonly reason: string;
  readonly cause: unknown;
}

/** The outcome of one check: a pass with what it established (`value`), a failure or an error. */
export type LeafOutcome<T> =
  { readonly status: 'pass'; readonly value: T } | VerificationFailure | VerificationError;

/** Outcome of checking an image digest against a rule's attestor sets, or its attestations. */
export type AttestorOutcome = { readonly status: 'pass' } | VerificationFailure | VerificationError;

/** The outcome of checking one image's signatures (layers or bundles) against one attestor. */
export type SignatureVerdict =
  { readonly verified: true; readonly evidence: string } | ({ readonly verified: false } & StageFailure);

/** No signature to check: `reason` says where none was found. */
export function noSignatures(reason: string): SignatureVerdict {
  return { verified: false, stage: Stage.Material, failure: 'NO_SIGNATURES', reason };
}
