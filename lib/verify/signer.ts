/** The signer of a signature, resolved and checked: key, certificate chain, identity, SCT, validity. */
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import {
  certificateKey,
  checkPathValidity,
  EKU_CODE_SIGNING,
  verifyCertificatePath,
  type SigningTime,
  type TrustedPath,
} from './certificates';
import { identityMismatch } from './identity';
import { Stage, type StageFailure } from '../model/verification';
import { verifyEmbeddedScts } from './sct';
import type { AttestorCheck, SignerCheck } from './spec';

/** Who made a signature: the attestor's key, or a certificate with the trusted chains it was checked against. */
export interface Signer {
  readonly key: KeyObject;
  readonly certificate: X509Certificate | undefined;
  /** Trusted chains of a certificate signer (for SCT and validity); undefined for a key. */
  readonly paths: readonly TrustedPath[] | undefined;
}

/** The certificate a signature carries, and the intermediates it comes with. */
export interface CarriedCertificate {
  readonly leaf: X509Certificate;
  readonly untrusted: readonly X509Certificate[];
}

/**
 * The signer of a signature: the attestor's key, or a certificate — the attestor's pinned one, or
 * the one the signature carries (`carried`, read only when needed) — chained to a trusted CA and
 * carrying the attestor's identity.
 */
export function resolveSigner(
  check: AttestorCheck,
  carried: () => CarriedCertificate | StageFailure,
): Signer | StageFailure {
  const { signer } = check;
  if (signer.kind === 'key') return { key: signer.key, certificate: undefined, paths: undefined };
  let certificate: CarriedCertificate;
  if (signer.pinned) {
    certificate = { leaf: signer.pinned, untrusted: [] };
  } else {
    const found = carried();
    if ('stage' in found) return found;
    certificate = found;
  }
  const chain = checkCertificateChain(certificate.leaf, certificate.untrusted, signer);
  if ('stage' in chain) return chain;
  const identity = checkIdentity(certificate.leaf, check);
  if (identity) return identity;
  return { key: certificateKey(certificate.leaf), certificate: certificate.leaf, paths: chain.paths };
}

/** A certificate signer's SCT, and validity at the signing times; nothing to check for a key. */
export function checkSignerCertificate(
  signer: Signer,
  times: readonly SigningTime[],
  check: AttestorCheck,
): StageFailure | undefined {
  if (!signer.paths) return undefined;
  return checkSct(signer.paths, check) ?? checkValidity(signer.paths, times, check);
}

/**
 * The certificate a signature was made with: the pinned one, or the signature's own. Returns the
 * trusted paths (chain stage) or the failure.
 */
function checkCertificateChain(
  leaf: X509Certificate,
  untrusted: readonly X509Certificate[],
  signer: Extract<SignerCheck, { kind: 'certificate' }>,
): { readonly paths: readonly TrustedPath[] } | StageFailure {
  if (signer.authorities.length === 0) {
    return {
      paths: [
        { certificates: [leaf], authority: { anchors: [leaf], intermediates: [], name: 'the policy' } },
      ],
    };
  }
  const result = verifyCertificatePath(leaf, untrusted, signer.authorities, EKU_CODE_SIGNING);
  if (!result.ok)
    return { stage: Stage.Chain, failure: 'CHAIN', reason: `untrusted certificate chain: ${result.reason}` };
  return { paths: result.paths };
}

/** The signing certificate's identity against the attestor's (keyless subject, issuer, extensions). */
function checkIdentity(leaf: X509Certificate, check: AttestorCheck): StageFailure | undefined {
  if (check.signer.kind !== 'certificate') return undefined;
  const mismatch = identityMismatch(leaf, check.signer.identity);
  return mismatch ? { stage: Stage.Identity, failure: 'IDENTITY_MISMATCH', reason: mismatch } : undefined;
}

export function checkSct(paths: readonly TrustedPath[], check: AttestorCheck): StageFailure | undefined {
  if (!check.sct.required) return undefined;
  let reason = 'missing certificate transparency proof: the certificate has no embedded SCT';
  for (const path of paths) {
    const [leaf, issuer] = path.certificates;
    if (!leaf) continue;
    const result = verifyEmbeddedScts(leaf, issuer, check.sct.logs);
    if (result.ok) return undefined;
    reason = result.reason;
  }
  return { stage: Stage.Sct, failure: 'SCT', reason };
}

/**
 * The certificate (and its CAs) must be valid when the signature was made: at every verified
 * signing time, or — only when no log proof is required and none dates the signature — now.
 */
export function checkValidity(
  paths: readonly TrustedPath[],
  times: readonly SigningTime[],
  check: AttestorCheck,
): StageFailure | undefined {
  let at = times;
  if (at.length === 0) {
    if (!check.now) {
      return {
        stage: Stage.Validity,
        failure: 'NO_SIGNING_TIME',
        reason:
          'no signing time: the signature has no verified Rekor entry or RFC 3161 timestamp to check the certificate against',
      };
    }
    at = [
      { time: check.now, source: 'current time; no Rekor entry or RFC 3161 timestamp dates the signature' },
    ];
  }
  const problem = checkPathValidity(paths, at);
  return problem ? { stage: Stage.Validity, failure: 'VALIDITY', reason: problem } : undefined;
}

/** The payload annotations an attestor requires, against a map of found values. */
export function annotationMismatch(
  required: Readonly<Record<string, string>>,
  found: Readonly<Record<string, unknown>> | undefined,
): string | undefined {
  for (const [name, expected] of Object.entries(required)) {
    const actual = found?.[name];
    if (actual !== expected) {
      return `annotation ${name} is ${actual === undefined ? 'missing' : JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`;
    }
  }
  return undefined;
}
