import type { KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import type { SignatureHash } from './keys';
import { Stage, type StageFailure } from '../model/verification';
import { verifyRawSignature } from './signature';
import { annotationMismatch } from './signer';
import type { AttestorCheck } from './spec';

/** A DSSE envelope (https://github.com/secure-systems-lab/dsse), payload decoded. */
export interface DsseEnvelope {
  readonly payloadType: string;
  readonly payload: Buffer;
  readonly signatures: readonly { readonly keyid: string; readonly sig: Buffer }[];
}

/** Parses a DSSE envelope's JSON bytes; `undefined` when it is not one. */
export function parseDsseEnvelope(bytes: Uint8Array): DsseEnvelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  const envelope = value as { payloadType?: unknown; payload?: unknown; signatures?: unknown } | null;
  if (
    typeof envelope?.payloadType !== 'string' ||
    typeof envelope.payload !== 'string' ||
    !Array.isArray(envelope.signatures)
  ) {
    return undefined;
  }
  const signatures = envelope.signatures.flatMap((signature: unknown) => {
    const item = signature as { keyid?: unknown; sig?: unknown } | null;
    return typeof item?.sig === 'string'
      ? [{ keyid: typeof item.keyid === 'string' ? item.keyid : '', sig: Buffer.from(item.sig, 'base64') }]
      : [];
  });
  return { payloadType: envelope.payloadType, payload: Buffer.from(envelope.payload, 'base64'), signatures };
}

/**
 * Verifies a DSSE signature over the pre-authentication encoding
 * `DSSEv1 <len(type)> <type> <len(payload)> <payload>` (ECDSA in DER or IEEE P1363).
 */
export function verifyDsseSignature(
  payloadType: string,
  payload: Buffer,
  signature: Buffer,
  key: KeyObject,
  hash: SignatureHash = 'sha256',
): boolean {
  return verifyRawSignature(dsse.preAuthEncoding(payloadType, payload), signature, key, hash);
}

/** An in-toto statement subject that names the image. */
export interface StatementSubject {
  readonly name: string | undefined;
  readonly annotations: Readonly<Record<string, unknown>>;
}

const MAX_SUBJECTS = 1024;

/**
 * cosign's `IntotoSubjectClaimVerifier`: the statement has a subject whose `digest.sha256` is
 * the image's. Returns that subject, or the reason it has none.
 */
export function matchStatementSubject(
  payload: Buffer,
  digest: string,
): { readonly subject: StatementSubject; readonly predicateType: string | undefined } | string {
  let statement: { subject?: unknown; predicateType?: unknown } | null;
  try {
    statement = JSON.parse(payload.toString('utf8')) as typeof statement;
  } catch {
    return 'the signed payload is not an in-toto statement (not JSON)';
  }
  if (typeof statement !== 'object' || statement === null)
    return 'the signed payload is not an in-toto statement';
  const subjects = statement.subject;
  if (!Array.isArray(subjects) || subjects.length === 0) return 'the in-toto statement has no subject';
  if (subjects.length > MAX_SUBJECTS) return `the in-toto statement has more than ${MAX_SUBJECTS} subjects`;
  const hex = digest.replace(/^sha256:/, '');
  const found: string[] = [];
  for (const item of subjects) {
    const subject = item as {
      name?: unknown;
      digest?: Record<string, unknown>;
      annotations?: unknown;
    } | null;
    const sha256 = subject?.digest?.sha256;
    if (typeof sha256 !== 'string') continue;
    if (sha256.toLowerCase() === hex) {
      const annotations =
        typeof subject?.annotations === 'object' && subject.annotations !== null
          ? (subject.annotations as Record<string, unknown>)
          : {};
      return {
        subject: { name: typeof subject?.name === 'string' ? subject.name : undefined, annotations },
        predicateType: typeof statement.predicateType === 'string' ? statement.predicateType : undefined,
      };
    }
    found.push(`sha256:${sha256}`);
  }
  return found.length === 0
    ? 'the in-toto statement has no sha256 subject digest'
    : `signature is for digest ${found.join(', ')}, not ${digest}`;
}

/**
 * A subject check ({@link matchStatementSubject}) against the attestor: the statement must name
 * the digest, with the attestor's annotations (bundles and `.att` layers alike).
 */
export function statementMismatch(
  matched: ReturnType<typeof matchStatementSubject>,
  check: AttestorCheck,
): StageFailure | undefined {
  if (typeof matched === 'string') {
    return { stage: Stage.Digest, failure: 'DIGEST_MISMATCH', reason: matched };
  }
  const mismatch = annotationMismatch(check.annotations, matched.subject.annotations);
  return mismatch ? { stage: Stage.Annotations, failure: 'ANNOTATIONS', reason: mismatch } : undefined;
}
