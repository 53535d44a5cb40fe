/**
 * What verify is asked to check, as its own input types: the attestor sets and attestations (the
 * policy compiler builds them), the evidence fetched for them, the verification context, and each
 * leaf attestor resolved against the trust roots ({@link resolveCheck}).
 */
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import type { SignatureLayer, SignatureLocation, SigstoreBundleArtifact } from '../model/evidence';
import { keyFingerprint, type CertificateAuthoritySet } from './certificates';
import { NO_IDENTITY, type IdentityPolicy } from './identity';
import type { SignatureHash, VerificationKey } from './keys';
import type { RekorLog } from './rekor';
import type { CtLog } from './sct';
import type { TimestampAuthority } from './timestamp';
import type { TrustRoots } from './trust-roots';

/**
 * Where an entry's signatures are read from: `Cosign` (default) reads Sigstore bundles first and
 * the legacy `.sig` / `.att` layers only when there is none (as cosign v3); `SigstoreBundle` reads
 * bundles only (ADR 6).
 */
export type SignatureFormat = 'Cosign' | 'SigstoreBundle';

/** `attestors[]` entry: `count` of its entries must pass (all of them when unset). */
export interface AttestorSet {
  readonly path: string;
  readonly count: number | undefined;
  readonly entries: readonly Attestor[];
}

/** One entry of an attestor set. */
export type Attestor = LeafAttestor | NestedAttestor;

/** An attestor that a signature is verified against (everything but a nested set). */
export type LeafAttestor = KeyAttestor | KeylessAttestor | CertificateAttestor;

/** `entries[].attestor`: a nested set that passes or fails as one entry. */
export interface NestedAttestor {
  readonly path: string;
  readonly kind: 'set';
  readonly set: AttestorSet;
}

/** What every leaf attestor (key, keyless, certificate) carries. */
interface LeafAttestorFields {
  /** Field path of the attestor in its policy, for messages. */
  readonly path: string;
  /** `annotations`: key-value pairs every signature's payload must carry (`cosign sign -a`). */
  readonly annotations: Readonly<Record<string, string>>;
  /** Repository holding this attestor's signatures, as written. */
  readonly repository: string | undefined;
  /** `repository`, parsed at load: where this attestor's evidence is read from. */
  readonly signatureLocation: SignatureLocation | undefined;
  readonly rekor: RekorOptions;
  readonly ctlog: CtlogOptions;
}

/** A public key an image signature must verify with (one per key in `publicKeys`). */
export interface KeyAttestor extends LeafAttestorFields {
  readonly kind: 'key';
  readonly key: VerificationKey;
  readonly hash: SignatureHash;
  /** `keys.rekor`: without it no log entry is needed (ADR 1). */
  readonly rekor: RekorOptions;
  /** `keys.ctlog`: only `tsaCertChain` matters for a key. */
  readonly ctlog: CtlogOptions;
}

/** `keyless`: a Fulcio-style certificate whose identity must match, chained to a trusted CA. */
export interface KeylessAttestor extends LeafAttestorFields {
  readonly kind: 'keyless';
  readonly identity: IdentityPolicy;
  /** `roots`: trust these CA certificates instead of the trust roots' Fulcio CAs. */
  readonly roots: readonly X509Certificate[] | undefined;
}

/** `certificates`: a given signing certificate (`cert`) and/or the chain it must lead to (`certChain`). */
export interface CertificateAttestor extends LeafAttestorFields {
  readonly kind: 'certificate';
  /** `cert`: signatures must verify with this certificate's key. */
  readonly cert: X509Certificate | undefined;
  /** `certChain`: with `cert`, its chain (root last); alone, the roots the signature's certificate must chain to. */
  readonly certChain: readonly X509Certificate[] | undefined;
  readonly hash: SignatureHash;
}

/** `rekor`: the transparency-log requirement, verified offline from the signature's own proof. */
export interface RekorOptions {
  /** `ignoreTlog: false`: a verified Rekor entry is required. */
  readonly required: boolean;
  /** `url`: names the log; no request is ever sent to it. */
  readonly url: string | undefined;
  /** `pubkey`: the only Rekor key trusted (instead of the trust roots' logs). */
  readonly publicKey: KeyObject | undefined;
}

/** `ctlog`: certificate transparency and signed timestamps. */
export interface CtlogOptions {
  /** `ignoreSCT: false`: the signing certificate must carry a verified SCT. */
  readonly requireSct: boolean;
  /** `pubkey`: the only CT log key trusted (instead of the trust roots' CT logs). */
  readonly publicKey: KeyObject | undefined;
  /** `tsaCertChain`: an RFC 3161 timestamp by this authority (signer first) is required. */
  readonly tsaCertChain: readonly X509Certificate[] | undefined;
}

/**
 * `verifyImages[].attestations[]`: the image must have in-toto statements of predicate `type`
 * signed by the attestor sets, and every such statement must satisfy `conditions`. The conditions
 * are the caller's (`C`): verify hands each to the context's `evaluateCondition`.
 */
export interface AttestationSpec<C> {
  /** Field path, e.g. `spec.rules[0].verifyImages[0].attestations[0]`. */
  readonly path: string;
  /** `name`: labels the attestation in messages. */
  readonly name: string | undefined;
  /** `type` (or the deprecated `predicateType`): the statement's `predicateType`. */
  readonly type: string;
  readonly attestorSets: readonly AttestorSet[];
  /** `conditions[]`: every block must hold for every verified statement of this type. */
  readonly conditions: readonly C[];
}

/** What verification needs besides the evidence: the trust roots and the entry's settings. */
export interface VerificationContext {
  /** The trust roots; required, so a caller never verifies against a default it did not choose. */
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
 * Evidence that could not be fetched: `trusted: false` when the registry served content that
 * fails its checks ("not trusted"), `'unknown'` when it could not be asked ("could not check").
 * `cause` is the error the fetch ended on, handed on in the outcome.
 */
export interface UnfetchedEvidence {
  readonly ok: false;
  readonly trusted: false | 'unknown';
  readonly reason: string;
  readonly cause?: unknown;
}

/** The legacy `.sig` (or `.att`) layers found at one location, or why they could not be fetched. */
export type FetchedSignatures =
  { readonly ok: true; readonly layers: readonly SignatureLayer[] } | UnfetchedEvidence;

/** The Sigstore bundles referring to the image at one location, or why they could not be fetched. */
export type FetchedBundles =
  { readonly ok: true; readonly bundles: readonly SigstoreBundleArtifact[] } | UnfetchedEvidence;

/** Everything fetched for one leaf attestor's location: legacy layers and Sigstore bundles. */
export interface AttestorEvidence {
  readonly legacy: FetchedSignatures;
  readonly bundles: FetchedBundles;
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
