import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import type { IdentityPolicy } from '../verify/identity';
import type { ConditionBlock } from './conditions';
import type { SignatureHash, VerificationKey } from '../verify/keys';

export type FailureAction = 'Audit' | 'Enforce';
export type FailurePolicy = 'Fail' | 'Ignore';
export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** A Kyverno `ClusterPolicy` or namespaced `Policy`, validated and compiled for evaluation. */
export interface Policy {
  readonly kind: 'ClusterPolicy' | 'Policy';
  readonly name: string;
  /** Set for a namespaced `Policy`: it applies only to resources in this namespace. */
  readonly namespace: string | undefined;
  /** The file (or S3 key) the policy came from. */
  readonly source: string;
  /** What to do when an image could not be checked (registry down, timeout): the webhook failurePolicy. */
  readonly failurePolicy: FailurePolicy;
  /** Controllers that Pod rules also apply to (`pod-policies.kyverno.io/autogen-controllers`). */
  readonly autogenControllers: readonly string[];
  readonly rules: readonly Rule[];
}

export interface Rule {
  readonly name: string;
  readonly match: ResourceFilter;
  readonly exclude: ResourceFilter | undefined;
  readonly verifyImages: readonly ImageVerification[];
  /** Custom image locations per resource kind (`imageExtractors`), replacing the built-in pod paths. */
  readonly imageExtractors: Readonly<Record<string, readonly ImageExtractor[]>>;
  /**
   * `preconditions` (`any` / `all`; the legacy list form is `all`), over the request and its
   * images: when they do not hold the rule is skipped. `undefined` when the rule has none.
   */
  readonly preconditions: ConditionBlock | undefined;
}

/** Kyverno `imageExtractors.<Kind>[]`: where images sit in a custom resource. */
export interface ImageExtractor {
  /** RFC 6901-style path; `*` expands every element of a list or map. */
  readonly path: string;
  /** Field of each element holding the image; empty when `path` points at the image itself. */
  readonly value: string;
  /** Field of each element naming it (used as the container name); defaults to the index or map key. */
  readonly key: string;
  /** Name of this extractor group (Kyverno's `name`). */
  readonly name: string;
}

/** `match` / `exclude`: every `all` entry and at least one `any` entry must hold. */
export interface ResourceFilter {
  readonly any: readonly ResourceDescription[];
  readonly all: readonly ResourceDescription[];
}

/** `subjects[]`: who sent the request, from the AdmissionReview's userInfo. */
export interface Subject {
  readonly kind: 'User' | 'Group' | 'ServiceAccount';
  readonly name: string;
  readonly namespace: string | undefined;
}

export interface ResourceDescription {
  readonly subjects: readonly Subject[];
  readonly kinds: readonly string[];
  readonly names: readonly string[];
  readonly namespaces: readonly string[];
  readonly operations: readonly Operation[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly selector: LabelSelector | undefined;
}

export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly {
    readonly key: string;
    readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    readonly values: readonly string[];
  }[];
}

export interface FailureActionOverride {
  readonly action: FailureAction;
  readonly namespaces: readonly string[];
}

/** One `verifyImages` entry. */
export interface ImageVerification {
  /** Field path of this entry in its policy, e.g. `spec.rules[0].verifyImages[0]`. */
  readonly path: string;
  readonly imageReferences: readonly string[];
  readonly skipImageReferences: readonly string[];
  /**
   * The rule's failure action, the same for every entry of a rule (Kyverno decides it per rule):
   * `Enforce` when any entry sets it, else the first action an entry sets, else the policy's.
   */
  readonly failureAction: FailureAction;
  /** The policy's overrides, kept only when no entry of the rule sets `failureAction`. */
  readonly failureActionOverrides: readonly FailureActionOverride[];
  readonly attestorSets: readonly AttestorSet[];
  /** Repository holding signatures instead of the image's own (rule level). */
  readonly repository: string | undefined;
  readonly mutateDigest: boolean;
  readonly verifyDigest: boolean;
  readonly required: boolean;
  readonly useCache: boolean;
  /** `imageRegistryCredentials.secrets`: Secrets Manager ids of Docker config secrets. */
  readonly credentialSecrets: readonly string[];
  /**
   * `type`: `Cosign` (default) reads Sigstore bundles first and the legacy `.sig` signatures only
   * when there is none (as cosign v3); `SigstoreBundle` reads bundles only (ADR 6).
   */
  readonly type: SignatureFormat;
  /** `attestations`: signed in-toto statements the image must have, each checked after the signatures. */
  readonly attestations: readonly Attestation[];
}

/**
 * `verifyImages[].attestations[]`: the image must have in-toto statements of predicate `type`
 * signed by the attestor sets, and every such statement must satisfy `conditions`.
 */
export interface Attestation {
  /** Field path, e.g. `spec.rules[0].verifyImages[0].attestations[0]`. */
  readonly path: string;
  /** `name`: labels the attestation in messages. */
  readonly name: string | undefined;
  /** `type` (or the deprecated `predicateType`): the statement's `predicateType`. */
  readonly type: string;
  readonly attestorSets: readonly AttestorSet[];
  /** `conditions[]`: every block must hold for every verified statement of this type. */
  readonly conditions: readonly ConditionBlock[];
}

/** Where an entry's signatures are read from: see {@link ImageVerification.type}. */
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

/** A public key an image signature must verify with (one per key in `publicKeys`). */
export interface KeyAttestor {
  readonly path: string;
  readonly kind: 'key';
  readonly key: VerificationKey;
  readonly hash: SignatureHash;
  readonly annotations: Readonly<Record<string, string>>;
  readonly repository: string | undefined;
  /** `keys.rekor`: without it no log entry is needed (ADR 1). */
  readonly rekor: RekorOptions;
  /** `keys.ctlog`: only `tsaCertChain` matters for a key. */
  readonly ctlog: CtlogOptions;
}

/** `keyless`: a Fulcio-style certificate whose identity must match, chained to a trusted CA. */
export interface KeylessAttestor {
  readonly path: string;
  readonly kind: 'keyless';
  readonly identity: IdentityPolicy;
  /** `roots`: trust these CA certificates instead of the trust roots' Fulcio CAs. */
  readonly roots: readonly X509Certificate[] | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  readonly repository: string | undefined;
  readonly rekor: RekorOptions;
  readonly ctlog: CtlogOptions;
}

/** `certificates`: a given signing certificate (`cert`) and/or the chain it must lead to (`certChain`). */
export interface CertificateAttestor {
  readonly path: string;
  readonly kind: 'certificate';
  /** `cert`: signatures must verify with this certificate's key. */
  readonly cert: X509Certificate | undefined;
  /** `certChain`: with `cert`, its chain (root last); alone, the roots the signature's certificate must chain to. */
  readonly certChain: readonly X509Certificate[] | undefined;
  readonly hash: SignatureHash;
  readonly annotations: Readonly<Record<string, string>>;
  readonly repository: string | undefined;
  readonly rekor: RekorOptions;
  readonly ctlog: CtlogOptions;
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
