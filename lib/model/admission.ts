/** The admission request and decision as the core sees them: plain data, no wire format. */
/** AdmissionReview API versions imagegate answers in kind. */
export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];

/** The operation of an admission request (also what a policy's `operations` filter names). */
export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** The part of an AdmissionReview request imagegate reads. */
export interface AdmissionRequest {
  readonly apiVersion: AdmissionApiVersion;
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly subResource: string | undefined;
  readonly name: string;
  readonly namespace: string | undefined;
  readonly operation: Operation;
  readonly userInfo: { readonly username: string; readonly groups: readonly string[] };
  /** The object as it will be stored; `undefined` for DELETE. */
  readonly object: Readonly<Record<string, unknown>> | undefined;
  readonly oldObject: Readonly<Record<string, unknown>> | undefined;
  readonly dryRun: boolean;
}

/** An RFC 6902 operation: `replace` of an image, and the policy-set annotation ops. */
export type JsonPatchOperation =
  | { readonly op: 'replace' | 'add'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string };

/** What the webhook answers, before it is wrapped in an AdmissionReview. */
export interface AdmissionDecision {
  readonly allowed: boolean;
  /** The denial message (Kyverno's layout) when not allowed. */
  readonly message: string | undefined;
  readonly warnings: readonly string[];
  readonly patch: readonly JsonPatchOperation[];
}
