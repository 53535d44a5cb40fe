/**
 * Small builders shared by the unit tests: admission requests, workloads and policy documents as
 * plain data. Policies go through the real parser (`parsePolicyFiles`), so a test cannot build a
 * policy the loader would refuse.
 */
import type { AdmissionRequest } from '../../lib/model/admission';
import { parsePolicyFiles, type PolicySet } from '../../lib/policy/policy-set';
import { PolicyLoadError } from '../../lib/policy/problems';

/** Kyverno's sample public key (for `ghcr.io/kyverno/test-verify-image`), when any valid key will do. */
export const KYVERNO_SAMPLE_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
-----END PUBLIC KEY-----`;

export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;

type Json = Record<string, unknown>;

/** An AdmissionRequest for a Pod CREATE in `default`, with any field overridden. */
export function admissionRequest(overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    apiVersion: 'admission.k8s.io/v1',
    uid: 'b0a9c7f2-0000-4000-8000-000000000001',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    subResource: undefined,
    name: 'app',
    namespace: 'default',
    operation: 'CREATE',
    userInfo: { username: 'kubernetes-admin', groups: ['system:masters'] },
    object: pod('app', ['nginx']),
    oldObject: undefined,
    dryRun: false,
    ...overrides,
  };
}

/** A Pod object whose containers run `images` (named c0, c1, …). */
export function pod(
  name: string,
  images: readonly string[],
  metadata: Json = {},
  extraSpec: Json = {},
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...metadata },
    spec: { containers: images.map((image, index) => ({ name: `c${index}`, image })), ...extraSpec },
  };
}

/** A CREATE request for a Pod named `name` in `namespace` running `images`. */
export function podRequest(
  name: string,
  images: readonly string[],
  overrides: Partial<AdmissionRequest> = {},
): AdmissionRequest {
  return admissionRequest({ name, object: pod(name, images), ...overrides });
}

const CONTROLLER_GVK: Readonly<Record<string, { group: string; version: string }>> = {
  Deployment: { group: 'apps', version: 'v1' },
  StatefulSet: { group: 'apps', version: 'v1' },
  DaemonSet: { group: 'apps', version: 'v1' },
  ReplicaSet: { group: 'apps', version: 'v1' },
  ReplicationController: { group: '', version: 'v1' },
  Job: { group: 'batch', version: 'v1' },
  CronJob: { group: 'batch', version: 'v1' },
};

/** A CREATE request for a pod controller whose pod template runs `images`. */
export function controllerRequest(
  kind: string,
  name: string,
  images: readonly string[],
  metadata: Json = {},
): AdmissionRequest {
  const gvk = CONTROLLER_GVK[kind] ?? { group: 'apps', version: 'v1' };
  const podSpec = { containers: images.map((image, index) => ({ name: `c${index}`, image })) };
  const template = { metadata: { labels: { app: name } }, spec: podSpec };
  const spec =
    kind === 'CronJob' ? { schedule: '* * * * *', jobTemplate: { spec: { template } } } : { template };
  return admissionRequest({
    kind: { ...gvk, kind },
    name,
    object: {
      apiVersion: gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version,
      kind,
      metadata: { name, namespace: 'default', ...metadata },
      spec,
    },
  });
}

/** A verifyImages entry checking `imageReferences` against every key in `keys` (one attestor set). */
export function verifyImagesEntry(
  imageReferences: readonly string[],
  keys: string | readonly string[] = KYVERNO_SAMPLE_KEY,
  extra: Json = {},
): Json {
  const pems = typeof keys === 'string' ? [keys] : keys;
  return {
    imageReferences,
    failureAction: 'Enforce',
    attestors: [{ entries: pems.map((publicKeys) => ({ keys: { publicKeys } })) }],
    ...extra,
  };
}

/** A rule named `name` matching `match` (a Kyverno `match` block) with the given verifyImages entries. */
export function rule(
  name: string,
  match: Json,
  verifyImages: readonly Json[] = [verifyImagesEntry(['*'])],
): Json {
  return { name, match, verifyImages };
}

/** `match: {any: [{resources: …}]}`. */
export function matchAny(...resources: readonly Json[]): Json {
  return { any: resources.map((item) => ({ resources: item })) };
}

export interface PolicyOptions {
  readonly name: string;
  readonly kind?: 'ClusterPolicy' | 'Policy';
  readonly namespace?: string;
  readonly annotations?: Record<string, string>;
  /** Extra `spec` fields (failurePolicy, webhookConfiguration, validationFailureActionOverrides, …). */
  readonly spec?: Json;
  readonly rules: readonly Json[];
}

/** A ClusterPolicy (or Policy) document as a plain object. */
export function policyDocument(options: PolicyOptions): Json {
  return {
    apiVersion: 'kyverno.io/v1',
    kind: options.kind ?? 'ClusterPolicy',
    metadata: {
      name: options.name,
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: { ...options.spec, rules: options.rules },
  };
}

/** Compiles policy documents (one JSON file each) into a PolicySet; throws if the loader refuses any. */
export function policySet(...documents: readonly Json[]): PolicySet {
  const { policies, problems } = parsePolicyFiles(
    documents.map((document, index) => ({ name: `policy-${index}.json`, text: JSON.stringify(document) })),
  );
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return { policies, version: 'test' };
}
