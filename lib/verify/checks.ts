import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import type { LeafAttestor, SignatureFormat } from '../policy/types';
import {
  certificateKey,
  checkPathValidity,
  EKU_CODE_SIGNING,
  keyFingerprint,
  verifyCertificatePath,
  type CertificateAuthoritySet,
  type SigningTime,
  type TrustedPath,
} from './certificates';
import { identityMismatch, NO_IDENTITY, type IdentityPolicy } from './identity';
import type { SignatureHash } from './keys';
import type { RekorLog } from './rekor';
import { verifyEmbeddedScts, type CtLog } from './sct';
import type { TimestampAuthority } from './timestamp';
import type { TrustRoots } from './trust-roots';

/** What verification needs besides the signatures: the trust roots and the entry's settings. */
export interface VerificationContext {
  readonly trust: TrustRoots;
  /** The verifyImages entry's `type`: which signature formats count (ADR 6). */
  readonly type: SignatureFormat;
  /**
   * The current time. Used only for a certificate whose signature has no verified signing time
   * (no Rekor entry or RFC 3161 timestamp, allowed by `rekor.ignoreTlog`), as cosign does; without
   * it such a signature fails.
   */
  readonly now?: Date | undefined;
}

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

export interface StageFailure {
  readonly stage: Stage;
  readonly reason: string;
}

/** The signer a signature must come from. */
export type SignerCheck =
  | { readonly kind: 'key'; readonly key: KeyObject; readonly hash: SignatureHash }
  | {
      readonly kind: 'certificate';
      /** Where the certificate must chain to; empty = no chain check (a pinned `cert` alone). */
      readonly authorities: readonly CertificateAuthoritySet[];
      readonly identity: IdentityPolicy;
      /** `certificates.cert`: the signature must be made with this certificate. */
      readonly pinned: X509Certificate | undefined;
      readonly hash: SignatureHash;
    };

/** One attestor, resolved against the trust roots: everything a signature is checked for. */
export interface AttestorCheck {
  readonly signer: SignerCheck;
  readonly tlog: { readonly required: boolean; readonly logs: readonly RekorLog[] };
  readonly sct: { readonly required: boolean; readonly logs: readonly CtLog[] };
  readonly timestamps: { readonly required: boolean; readonly authorities: readonly TimestampAuthority[] };
  readonly annotations: Readonly<Record<string, string>>;
  readonly now: Date | undefined;
}

const ALWAYS = { start: new Date(0), end: new Date(8_640_000_000_000_000) };

/** Resolves a leaf attestor's settings against the trust roots. */
export function resolveCheck(attestor: LeafAttestor, context: VerificationContext): AttestorCheck {
  const { trust } = context;
  const rekor = attestor.rekor;
  const tlogLogs: RekorLog[] = rekor.publicKey
    ? [policyLog(rekor.publicKey, rekor.url ?? "the policy's rekor.pubkey")]
    : [...trust.tlogs];
  const ctLogs: CtLog[] = attestor.ctlog.publicKey
    ? [policyLog(attestor.ctlog.publicKey, "the policy's ctlog.pubkey")]
    : [...trust.ctlogs];
  const tsaChain = attestor.ctlog.tsaCertChain;
  const timestamps = tsaChain
    ? {
        required: true,
        authorities: [{ certChain: tsaChain, validFor: ALWAYS, name: "the policy's tsaCertChain" }],
      }
    : {
        required: false,
        authorities: trust.timestampAuthorities.map((ca) => ({ ...ca, name: `${ca.uri} (${ca.source})` })),
      };
  const common = {
    tlog: { required: rekor.required, logs: tlogLogs },
    timestamps,
    annotations: attestor.annotations,
    now: context.now,
  };
  switch (attestor.kind) {
    case 'key':
      return {
        ...common,
        signer: { kind: 'key', key: attestor.key.key, hash: attestor.hash },
        sct: { required: false, logs: ctLogs },
      };
    case 'keyless':
      return {
        ...common,
        signer: {
          kind: 'certificate',
          authorities: attestor.roots
            ? [{ anchors: attestor.roots, intermediates: [], name: "the policy's roots" }]
            : trustRootAuthorities(trust),
          identity: attestor.identity,
          pinned: undefined,
          hash: 'sha256',
        },
        sct: { required: attestor.ctlog.requireSct, logs: ctLogs },
      };
    case 'certificate': {
      const chain = attestor.certChain;
      const authorities: CertificateAuthoritySet[] = !chain
        ? []
        : attestor.cert
          ? [{ anchors: chain.slice(-1), intermediates: chain.slice(0, -1), name: "the policy's certChain" }]
          : [{ anchors: chain, intermediates: [], name: "the policy's certChain" }];
      return {
        ...common,
        signer: {
          kind: 'certificate',
          authorities,
          identity: NO_IDENTITY,
          pinned: attestor.cert,
          hash: attestor.hash,
        },
        // cosign checks the SCT of a given certificate only together with its chain (Kyverno's
        // ValidateAndUnpackCertWithChain); a bare `cert` is used as a key.
        sct: { required: attestor.ctlog.requireSct && chain !== undefined, logs: ctLogs },
      };
    }
  }
}

/** Each Fulcio CA of the trust roots: its last certificate is the anchor, the rest intermediates. */
export function trustRootAuthorities(trust: TrustRoots): CertificateAuthoritySet[] {
  return trust.certificateAuthorities.map((ca) => ({
    anchors: ca.certChain.slice(-1),
    intermediates: ca.certChain.slice(0, -1),
    validFor: ca.validFor,
    name: `the Fulcio CA ${ca.uri} of trust root ${ca.source}`,
  }));
}

function policyLog(publicKey: KeyObject, name: string): RekorLog & CtLog {
  const keyId = Buffer.from(keyFingerprint(publicKey), 'hex');
  return {
    keyId,
    logID: keyId,
    publicKey,
    validFor: ALWAYS,
    baseURL: name,
  };
}

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
  if (!result.ok) return { stage: Stage.Chain, reason: `untrusted certificate chain: ${result.reason}` };
  return { paths: result.paths };
}

/** The signing certificate's identity against the attestor's (keyless subject, issuer, extensions). */
function checkIdentity(leaf: X509Certificate, check: AttestorCheck): StageFailure | undefined {
  if (check.signer.kind !== 'certificate') return undefined;
  const mismatch = identityMismatch(leaf, check.signer.identity);
  return mismatch ? { stage: Stage.Identity, reason: mismatch } : undefined;
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
  return { stage: Stage.Sct, reason };
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
        reason:
          'no signing time: the signature has no verified Rekor entry or RFC 3161 timestamp to check the certificate against',
      };
    }
    at = [
      { time: check.now, source: 'current time; no Rekor entry or RFC 3161 timestamp dates the signature' },
    ];
  }
  const problem = checkPathValidity(paths, at);
  return problem ? { stage: Stage.Validity, reason: problem } : undefined;
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
