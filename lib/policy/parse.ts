import { describeError } from '../errors';
import { parseImageReference } from '../oci/reference';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { KeyParseError, parsePublicKeys, SIGNATURE_HASHES, type SignatureHash } from '../verify/keys';
import { FieldReader, formatPath, type PathSegment, type ReadContext } from './fields';
import type { PolicyProblem } from './problems';
import type {
  Attestor,
  AttestorSet,
  ImageExtractor,
  FailureAction,
  FailureActionOverride,
  FailurePolicy,
  ImageVerification,
  KeyAttestor,
  LabelSelector,
  Operation,
  Policy,
  ResourceDescription,
  ResourceFilter,
  Rule,
  Subject,
} from './types';

/** Controllers whose pod templates Kyverno's autogen covers. */
export const POD_CONTROLLERS = [
  'DaemonSet',
  'Deployment',
  'Job',
  'StatefulSet',
  'ReplicaSet',
  'ReplicationController',
  'CronJob',
] as const;

const AUTOGEN_ANNOTATION = 'pod-policies.kyverno.io/autogen-controllers';
const API_VERSIONS = ['kyverno.io/v1', 'kyverno.io/v2beta1'];
const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

const NOT_YET = 'not implemented by imagegate yet';
const UNSUPPORTED_RULE_FIELDS: Record<string, string> = {
  validate: 'imagegate evaluates verifyImages rules only',
  mutate: 'imagegate evaluates verifyImages rules only',
  generate: 'imagegate evaluates verifyImages rules only',
  context: 'context variables (ConfigMap, apiCall, imageRegistry) are ' + NOT_YET,
  preconditions: 'preconditions need Kyverno variables, ' + NOT_YET,
  celPreconditions: 'CEL preconditions are ' + NOT_YET,
};
const UNSUPPORTED_VERIFY_FIELDS: Record<string, string> = {
  attestations: 'attestation verification is ' + NOT_YET,
  roots: 'keyless verification is ' + NOT_YET,
  subject: 'keyless verification is ' + NOT_YET,
  issuer: 'keyless verification is ' + NOT_YET,
  additionalExtensions: 'keyless verification is ' + NOT_YET,
  validate: 'validation of attestation payloads is ' + NOT_YET,
};
const UNSUPPORTED_ATTESTOR_FIELDS: Record<string, string> = {
  keyless: 'keyless verification is ' + NOT_YET,
  certificates: 'certificate attestors are ' + NOT_YET,
};
const UNSUPPORTED_KEY_FIELDS: Record<string, string> = {
  kms: 'KMS keys are ' + NOT_YET + '; put the public key PEM in publicKeys',
  secret: 'an external webhook cannot read Kubernetes Secrets; put the public key PEM in publicKeys',
};

const KMS_OR_SECRET_REFERENCE: [RegExp, string][] = [
  [/^k8s:\/\//, UNSUPPORTED_KEY_FIELDS.secret ?? ''],
  [/^(?:awskms|gcpkms|azurekms|hashivault):\/\//, UNSUPPORTED_KEY_FIELDS.kms ?? ''],
  [
    /\{\{.*\}\}/s,
    'Kyverno variables ({{ ... }}) need cluster context imagegate does not have; put the PEM itself here',
  ],
];
const NAMESPACE_SELECTOR =
  'an external webhook cannot read Namespace labels; select namespaces with the namespaceSelector of the MutatingWebhookConfiguration instead';
const CLUSTER_RBAC =
  'an external webhook cannot read RoleBindings; match on subjects (users, groups, service accounts) instead';

/**
 * Parses one policy file (YAML, multi-document YAML or JSON) into policies. Never throws: every
 * problem is returned with its file, line and field path, and a document with any problem
 * yields no policy.
 */
export function parsePolicyText(
  text: string,
  source: string,
): { policies: Policy[]; problems: PolicyProblem[] } {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const policies: Policy[] = [];
  const problems: PolicyProblem[] = [];
  const docs = Array.isArray(documents) ? documents : [];
  if (!Array.isArray(documents)) {
    problems.push({ source, line: undefined, path: '', message: 'not a YAML stream' });
  }
  docs.forEach((document, index) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const line = error.linePos?.[0].line ?? lineCounter.linePos(error.pos[0]).line;
        problems.push({
          source,
          line,
          path: '',
          message: `YAML error: ${error.message.split('\n')[0] ?? ''}`,
        });
      }
      return;
    }
    const value: unknown = document.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    const documentProblems: PolicyProblem[] = [];
    const context: ReadContext = {
      source: docs.length > 1 ? `${source}#${index + 1}` : source,
      problems: documentProblems,
      lineOf: (path) => lineOf(document, lineCounter, path),
    };
    const policy = readPolicy(value, context);
    problems.push(...documentProblems.sort(byLineThenCause));
    if (policy && documentProblems.length === 0) policies.push(policy);
  });
  return { policies, problems };
}

/** Line order; on one line, a misspelt field before the "is required" it causes. */
function byLineThenCause(a: PolicyProblem, b: PolicyProblem): number {
  const consequence = (problem: PolicyProblem) => (problem.message === 'is required' ? 1 : 0);
  return (a.line ?? 0) - (b.line ?? 0) || consequence(a) - consequence(b);
}

function lineOf(document: Document, counter: LineCounter, path: readonly PathSegment[]): number | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node: unknown = length === 0 ? document.contents : document.getIn(path.slice(0, length), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
  }
  return undefined;
}

function readPolicy(value: unknown, context: ReadContext): Policy | undefined {
  const root = FieldReader.of(value, [], context);
  if (!root) return undefined;
  const kind = root.string('kind', { required: true });
  const apiVersion = root.string('apiVersion', { required: true });
  if (kind !== undefined && kind !== 'ClusterPolicy' && kind !== 'Policy') {
    root.problem('kind', `must be ClusterPolicy or Policy, got ${JSON.stringify(kind)}`);
    return undefined;
  }
  if (apiVersion !== undefined && !API_VERSIONS.includes(apiVersion)) {
    root.problem(
      'apiVersion',
      `must be one of ${API_VERSIONS.join(', ')}, got ${JSON.stringify(apiVersion)}`,
    );
  }
  const metadata = root.object('metadata', { required: true });
  const name = metadata?.string('name', { required: true });
  const namespace = metadata?.string('namespace');
  const annotations = metadata?.stringMap('annotations') ?? {};
  metadata?.accept('labels', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields');
  metadata?.rejectUnknown();
  if (kind === 'Policy' && !namespace) metadata?.problem('namespace', 'is required for a namespaced Policy');
  if (kind === 'ClusterPolicy' && namespace)
    metadata?.problem('namespace', 'must not be set on a ClusterPolicy');
  root.accept('status');

  const spec = root.object('spec', { required: true });
  root.rejectUnknown();
  if (!spec || !kind || !name) return undefined;

  const specAction = readFailureAction(spec, 'validationFailureAction');
  const overrides = spec.list('validationFailureActionOverrides').map(readOverride);
  const webhook = spec.object('webhookConfiguration');
  const failurePolicy =
    (webhook?.string('failurePolicy', { allowed: ['Fail', 'Ignore'] }) as FailurePolicy | undefined) ??
    (spec.string('failurePolicy', { allowed: ['Fail', 'Ignore'] }) as FailurePolicy | undefined) ??
    'Fail';
  webhook?.accept('timeoutSeconds', 'matchConditions');
  webhook?.rejectUnknown();
  spec.accept(
    'background',
    'webhookTimeoutSeconds',
    'schemaValidation',
    'emitWarning',
    'useServerSideApply',
    'mutateExistingOnPolicyUpdate',
    'generateExisting',
    'generateExistingOnPolicyUpdate',
  );
  const admission = spec.boolean('admission', true);
  const rules = spec
    .list('rules', { required: true })
    .map((rule) => readRule(rule, { action: specAction ?? 'Audit', overrides }));
  spec.rejectUnknown({ applyRules: NOT_YET });

  return {
    kind,
    name,
    namespace: kind === 'Policy' ? namespace : undefined,
    source: context.source,
    failurePolicy,
    autogenControllers: rules.every((rule) => rule === undefined || autogenApplies(rule))
      ? readAutogen(annotations, metadata)
      : [],
    // A policy with `admission: false` only runs in background scans, never at admission.
    rules: admission ? rules.filter((rule) => rule !== undefined) : [],
  };
}

function readAutogen(annotations: Record<string, string>, metadata: FieldReader | undefined): string[] {
  const value = annotations[AUTOGEN_ANNOTATION];
  if (value === undefined) return [...POD_CONTROLLERS];
  if (value.trim() === 'none') return [];
  const controllers = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const controller of controllers) {
    if (!(POD_CONTROLLERS as readonly string[]).includes(controller)) {
      metadata?.problem(
        'annotations',
        `${AUTOGEN_ANNOTATION}: unknown controller ${JSON.stringify(controller)}`,
      );
    }
  }
  return controllers;
}

/**
 * Kyverno's `CanAutoGen`: Pod rules extend to controllers only when no match or exclude entry
 * names resources by name, selector or annotations (those describe Pods, not their controllers)
 * and no entry mixes Pod with other kinds.
 */
function autogenApplies(rule: Rule): boolean {
  const descriptions = [rule.match, ...(rule.exclude ? [rule.exclude] : [])].flatMap((filter) => [
    ...filter.any,
    ...filter.all,
  ]);
  return descriptions.every(
    (description) =>
      description.names.length === 0 &&
      description.selector === undefined &&
      Object.keys(description.annotations).length === 0 &&
      (description.kinds.every(isPodKind) || !description.kinds.some(isPodKind)),
  );
}

function isPodKind(pattern: string): boolean {
  return pattern === 'Pod' || pattern.endsWith('/Pod');
}

function readFailureAction(reader: FieldReader, name: string): FailureAction | undefined {
  const value = reader.string(name);
  if (value === undefined) return undefined;
  if (/^enforce$/i.test(value)) return 'Enforce';
  if (/^audit$/i.test(value)) return 'Audit';
  reader.problem(name, `must be Audit or Enforce, got ${JSON.stringify(value)}`);
  return undefined;
}

function readOverride(reader: FieldReader): FailureActionOverride {
  const action = readFailureAction(reader, 'action') ?? 'Audit';
  if (!reader.has('action')) reader.problem('action', 'is required');
  const namespaces = reader.stringList('namespaces');
  reader.rejectUnknown({ namespaceSelector: NAMESPACE_SELECTOR });
  return { action, namespaces };
}

interface PolicyDefaults {
  readonly action: FailureAction;
  readonly overrides: readonly FailureActionOverride[];
}

function readRule(reader: FieldReader, defaults: PolicyDefaults): Rule | undefined {
  const name = reader.string('name', { required: true });
  const match = readFilter(reader.object('match', { required: true }), 'match');
  const excludeReader = reader.object('exclude');
  const exclude = excludeReader ? readFilter(excludeReader, 'exclude') : undefined;
  const verifyImages = reader.list('verifyImages').map((entry) => readVerifyImages(entry, defaults));
  const imageExtractors = readImageExtractors(reader.object('imageExtractors'));
  reader.accept('skipBackgroundRequests', 'reportProperties');
  reader.rejectUnknown(UNSUPPORTED_RULE_FIELDS);
  if (
    !reader.has('verifyImages') &&
    !Object.keys(UNSUPPORTED_RULE_FIELDS).some((field) => reader.has(field))
  ) {
    reader.problem('verifyImages', 'is required: imagegate evaluates verifyImages rules');
  }
  if (!name || !match) return undefined;
  return {
    name,
    match,
    exclude,
    verifyImages: verifyImages.filter((entry) => entry !== undefined),
    imageExtractors,
  };
}

function readImageExtractors(reader: FieldReader | undefined): Record<string, ImageExtractor[]> {
  if (!reader) return {};
  const extractors: Record<string, ImageExtractor[]> = {};
  for (const kind of reader.keys()) {
    extractors[kind] = reader.list(kind).map((extractor) => {
      const path = extractor.string('path', { required: true }) ?? '';
      if (path && !path.startsWith('/')) extractor.problem('path', 'must start with /');
      const result = {
        path,
        value: extractor.string('value') ?? '',
        key: extractor.string('key') ?? '',
        name: extractor.string('name') ?? 'custom',
      };
      extractor.rejectUnknown({ jmesPath: 'JMESPath transformation of extracted images is ' + NOT_YET });
      return result;
    });
  }
  return extractors;
}

/** `match` needs kinds; `exclude` may name only subjects, namespaces, … (then any kind). */
type FilterRole = 'match' | 'exclude';

function readFilter(reader: FieldReader | undefined, role: FilterRole): ResourceFilter | undefined {
  if (!reader) return undefined;
  const any = reader.list('any').map((entry) => readFilterEntry(entry, role));
  const all = reader.list('all').map((entry) => readFilterEntry(entry, role));
  const legacy = readFilterEntryFields(reader, role);
  reader.rejectUnknown();
  if (legacy) all.push(legacy);
  if (any.length === 0 && all.length === 0) {
    reader.problem(undefined, 'must name resources (any, all or resources)');
    return undefined;
  }
  return { any: any.filter(isDefined), all: all.filter(isDefined) };
}

function readFilterEntry(reader: FieldReader, role: FilterRole): ResourceDescription | undefined {
  const entry = readFilterEntryFields(reader, role);
  reader.rejectUnknown();
  if (!entry) reader.problem(undefined, 'must name resources or subjects');
  return entry;
}

/** The fields shared by `match.any[]`, `match.all[]` and the legacy `match` itself. */
function readFilterEntryFields(reader: FieldReader, role: FilterRole): ResourceDescription | undefined {
  for (const field of ['roles', 'clusterRoles']) {
    if (reader.has(field)) reader.problem(field, `is not supported: ${CLUSTER_RBAC}`);
    reader.accept(field);
  }
  const subjects = reader.list('subjects').flatMap(readSubject);
  const resources = reader.object('resources');
  if (!resources) {
    if (subjects.length === 0) return undefined;
    if (role === 'match') {
      reader.problem('resources', 'is required (kinds to match) together with subjects');
      return undefined;
    }
    return {
      subjects,
      kinds: [],
      names: [],
      namespaces: [],
      operations: [],
      annotations: {},
      selector: undefined,
    };
  }
  const kinds = resources.stringList('kinds');
  const legacyName = resources.string('name');
  const names = [...resources.stringList('names'), ...(legacyName ? [legacyName] : [])];
  const namespaces = resources.stringList('namespaces');
  const operations = resources.stringList('operations').filter((operation, index): operation is Operation => {
    if ((OPERATIONS as readonly string[]).includes(operation)) return true;
    resources.problem('operations', `item ${index} must be one of ${OPERATIONS.join(', ')}`);
    return false;
  });
  const annotations = resources.stringMap('annotations');
  const selectorReader = resources.object('selector');
  const selector = selectorReader ? readSelector(selectorReader) : undefined;
  resources.rejectUnknown({ namespaceSelector: NAMESPACE_SELECTOR });
  if (kinds.length === 0 && role === 'match') resources.problem('kinds', 'is required');
  return { subjects, kinds, names, namespaces, operations, annotations, selector };
}

function readSubject(reader: FieldReader): Subject[] {
  const kind = reader.string('kind', { required: true, allowed: ['User', 'Group', 'ServiceAccount'] });
  const name = reader.string('name', { required: true });
  const namespace = reader.string('namespace');
  reader.accept('apiGroup');
  reader.rejectUnknown();
  if (kind === 'ServiceAccount' && !namespace)
    reader.problem('namespace', 'is required for a ServiceAccount');
  return kind && name ? [{ kind: kind as Subject['kind'], name, namespace }] : [];
}

function readSelector(reader: FieldReader): LabelSelector {
  const matchLabels = reader.stringMap('matchLabels');
  const matchExpressions = reader.list('matchExpressions').map((expression) => {
    const key = expression.string('key', { required: true }) ?? '';
    const operator = (expression.string('operator', {
      required: true,
      allowed: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
    }) ?? 'In') as LabelSelector['matchExpressions'][number]['operator'];
    const values = expression.stringList('values');
    expression.rejectUnknown();
    return { key, operator, values };
  });
  reader.rejectUnknown();
  return { matchLabels, matchExpressions };
}

function readVerifyImages(reader: FieldReader, defaults: PolicyDefaults): ImageVerification | undefined {
  const path = reader.path;
  const type = reader.string('type', { allowed: ['Cosign', 'SigstoreBundle', 'Notary'] }) ?? 'Cosign';
  if (type !== 'Cosign') reader.problem('type', `is not supported: ${type} verification is ${NOT_YET}`);

  const image = reader.string('image');
  const imageReferences = [...reader.stringList('imageReferences'), ...(image ? [image] : [])];
  if (imageReferences.length === 0)
    reader.problem('imageReferences', 'is required (an image reference is required)');
  const skipImageReferences = reader.stringList('skipImageReferences');

  const explicitAction = readFailureAction(reader, 'failureAction');
  const failureAction = explicitAction ?? defaults.action;
  const mutateDigest = reader.boolean('mutateDigest', true);
  if (failureAction === 'Audit' && mutateDigest) {
    reader.problem('mutateDigest', "mutateDigest must be set to false for 'Audit' failure action");
  }
  const verifyDigest = reader.boolean('verifyDigest', true);
  const required = reader.boolean('required', true);
  const useCache = reader.boolean('useCache', true);
  const repository = readRepository(reader);
  if (reader.boolean('cosignOCI11', false)) reader.problem('cosignOCI11', `is not supported: ${NOT_YET}`);

  const credentialSecrets = readRegistryCredentials(reader.object('imageRegistryCredentials'));
  const attestorSets = reader.list('attestors').map(readAttestorSet);
  const legacyKey = reader.string('key');
  const legacyAnnotations = reader.stringMap('annotations');
  if (legacyKey !== undefined) {
    const entries = readKeys(legacyKey, [...path, 'key'], reader, 'sha256', legacyAnnotations, undefined);
    attestorSets.push({ path: formatPath([...path, 'key']), count: undefined, entries });
  } else if (Object.keys(legacyAnnotations).length > 0) {
    reader.problem('annotations', 'applies only together with the rule-level key');
  }
  reader.rejectUnknown(UNSUPPORTED_VERIFY_FIELDS);

  return {
    path: formatPath(path),
    imageReferences,
    skipImageReferences,
    failureAction,
    // An action set on the entry itself wins over the policy's per-namespace overrides.
    failureActionOverrides: explicitAction ? [] : defaults.overrides,
    attestorSets,
    repository,
    mutateDigest,
    verifyDigest,
    required,
    useCache,
    credentialSecrets,
  };
}

function readRegistryCredentials(reader: FieldReader | undefined): string[] {
  if (!reader) return [];
  const secrets = reader.stringList('secrets');
  if (reader.boolean('allowInsecureRegistry', false)) {
    reader.problem(
      'allowInsecureRegistry',
      'is not supported: a policy cannot lower transport security; name the registry in IMAGEGATE_INSECURE_REGISTRIES',
    );
  }
  for (const provider of reader.stringList('providers')) {
    if (provider !== 'default' && provider !== 'amazon') {
      reader.problem('providers', `${provider} credential helper is not supported (default and amazon are)`);
    }
  }
  reader.rejectUnknown();
  return secrets;
}

function readAttestorSet(reader: FieldReader): AttestorSet {
  const count = reader.integer('count', { min: 1 });
  const entries = reader.list('entries', { required: true }).flatMap(readAttestorEntry);
  reader.rejectUnknown();
  // With no usable entry the entries' own problems say what is wrong.
  if (count !== undefined && entries.length > 0 && count > entries.length) {
    reader.problem('count', `is ${count} but the set has only ${entries.length} attestors`);
  }
  return { path: formatPath(reader.path), count, entries };
}

function readAttestorEntry(reader: FieldReader): Attestor[] {
  const annotations = reader.stringMap('annotations');
  const repository = readRepository(reader);
  const entryHash = readHash(reader, 'signatureAlgorithm');
  const keys = reader.object('keys');
  const nested = reader.object('attestor');
  let attestors: Attestor[] = [];
  if (keys && nested) {
    reader.problem(undefined, 'must have exactly one of keys, certificates, keyless or attestor');
  } else if (nested) {
    attestors = [{ path: formatPath(nested.path), kind: 'set', set: readAttestorSet(nested) }];
  } else if (keys) {
    const hash = readHash(keys, 'signatureAlgorithm') ?? entryHash ?? 'sha256';
    const rekor = keys.object('rekor');
    if (rekor) {
      const ignoreTlog = rekor.boolean('ignoreTlog', false);
      rekor.accept('url', 'pubkey');
      rekor.rejectUnknown();
      if (!ignoreTlog) {
        rekor.problem(
          undefined,
          'is not supported: requiring a transparency-log entry for key signatures is ' +
            NOT_YET +
            '; set ignoreTlog: true or remove rekor',
        );
      }
    }
    const ctlog = keys.object('ctlog');
    if (ctlog) {
      // SCTs live in certificates: for a bare key, ignoreSCT and the CT key change nothing.
      ctlog.accept('ignoreSCT', 'pubkey');
      ctlog.rejectUnknown({ tsaCertChain: 'RFC 3161 timestamps are ' + NOT_YET });
    }
    const publicKeys = keys.string('publicKeys', { required: !keys.has('kms') && !keys.has('secret') });
    if (publicKeys !== undefined) {
      attestors = readKeys(publicKeys, [...keys.path, 'publicKeys'], keys, hash, annotations, repository);
    }
    keys.rejectUnknown(UNSUPPORTED_KEY_FIELDS);
  } else if (!Object.keys(UNSUPPORTED_ATTESTOR_FIELDS).some((field) => reader.has(field))) {
    reader.problem(undefined, 'must have exactly one of keys, certificates, keyless or attestor');
  }
  reader.rejectUnknown(UNSUPPORTED_ATTESTOR_FIELDS);
  return attestors;
}

function readKeys(
  pem: string,
  path: readonly PathSegment[],
  reader: FieldReader,
  hash: SignatureHash,
  annotations: Record<string, string>,
  repository: string | undefined,
): KeyAttestor[] {
  const reference = KMS_OR_SECRET_REFERENCE.find(([pattern]) => pattern.test(pem.trim()));
  if (reference) {
    reader.problem(String(path[path.length - 1]), `is not supported: ${reference[1]}`);
    return [];
  }
  try {
    return parsePublicKeys(pem).map((key) => ({
      path: formatPath(path),
      kind: 'key',
      key,
      hash,
      annotations,
      repository,
    }));
  } catch (error) {
    if (!(error instanceof KeyParseError)) throw error;
    reader.problem(String(path[path.length - 1]), error.message);
    return [];
  }
}

/** A signature `repository`: `registry/path` with no tag or digest. */
function readRepository(reader: FieldReader): string | undefined {
  const repository = reader.string('repository');
  if (repository === undefined) return undefined;
  const path = repository.slice(repository.indexOf('/') + 1);
  if (repository.includes('@') || path.includes(':')) {
    reader.problem('repository', 'must name a repository without a tag or digest');
    return undefined;
  }
  try {
    parseImageReference(repository);
  } catch (error) {
    reader.problem('repository', describeError(error));
    return undefined;
  }
  return repository;
}

function readHash(reader: FieldReader, name: string): SignatureHash | undefined {
  return reader.string(name, { allowed: SIGNATURE_HASHES }) as SignatureHash | undefined;
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
