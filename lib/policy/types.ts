/**
 * The compiled policy form: what the policy compiler produces once per load and matching, planning
 * and verification read per request. Nothing here is re-parsed per request: globs are compiled
 * matchers, signature repositories parsed locations, keys and certificates parsed, and which
 * request variables attestation conditions read is known (ADR 14).
 */
import type { Operation } from '../model/admission';
import type { SignatureLocation } from '../model/evidence';
import type { WildcardMatcher } from '../model/wildcard';
import type { AttestationSpec, AttestorSet, SignatureFormat } from '../verify/spec';
import type { ConditionBlock } from './conditions';
import type { ImagePattern } from './image-patterns';
import type { KindPattern } from './match';
import type { ConditionReads } from './variable-syntax';

export type FailureAction = 'Audit' | 'Enforce';
export type FailurePolicy = 'Fail' | 'Ignore';

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
  /**
   * Compiled at load: over the user name (`User`; a `ServiceAccount` as
   * `system:serviceaccount:<namespace>:<name>`) or each group (`Group`).
   */
  readonly matcher: WildcardMatcher;
}

/** One `match` / `exclude` entry; its patterns compiled at load. */
export interface ResourceDescription {
  readonly subjects: readonly Subject[];
  readonly kinds: readonly KindPattern[];
  readonly names: readonly WildcardMatcher[];
  readonly namespaces: readonly WildcardMatcher[];
  readonly operations: readonly Operation[];
  /** Annotation key → compiled value pattern. */
  readonly annotations: Readonly<Record<string, WildcardMatcher>>;
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

/** A `validationFailureActionOverrides` item: the action for namespaces matching any pattern, compiled at load. */
export interface FailureActionOverride {
  readonly action: FailureAction;
  readonly namespaces: readonly WildcardMatcher[];
}

/** One `verifyImages` entry. */
export interface ImageVerification {
  /** Field path of this entry in its policy, e.g. `spec.rules[0].verifyImages[0]`. */
  readonly path: string;
  readonly imageReferences: readonly ImagePattern[];
  readonly skipImageReferences: readonly ImagePattern[];
  /**
   * The rule's failure action, the same for every entry of a rule (Kyverno decides it per rule):
   * `Enforce` when any entry sets it, else the first action an entry sets, else the policy's.
   */
  readonly failureAction: FailureAction;
  /** The policy's overrides, kept only when no entry of the rule sets `failureAction`. */
  readonly failureActionOverrides: readonly FailureActionOverride[];
  readonly attestorSets: readonly AttestorSet[];
  /** Repository holding signatures instead of the image's own (rule level), as written. */
  readonly repository: string | undefined;
  /** `repository`, parsed at load. */
  readonly signatureLocation: SignatureLocation | undefined;
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
 * `verifyImages[].attestations[]`: verify's attestation spec with the policy's condition blocks,
 * and which request variables the conditions read, known at load (what a cached verdict depends on).
 */
export type Attestation = AttestationSpec<ConditionBlock> & { readonly reads: ConditionReads };

export type {
  Attestor,
  AttestorSet,
  CertificateAttestor,
  CtlogOptions,
  KeyAttestor,
  KeylessAttestor,
  LeafAttestor,
  NestedAttestor,
  RekorOptions,
  SignatureFormat,
} from '../verify/spec';
