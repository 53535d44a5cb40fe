import { describeError } from '../errors';
import { parseImageReference } from '../oci/reference';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import { CertificateParseError, parseCertificatesPem } from '../verify/certificates';
import {
  anchoredRegExp,
  FULCIO_EXTENSIONS,
  wildcard,
  type IdentityPolicy,
  type ValueMatcher,
} from '../verify/identity';
import { KeyParseError, parsePublicKeys, SIGNATURE_HASHES, type SignatureHash } from '../verify/keys';
import { publicGoodTrustRoots, sameLogUrl, type TrustRoots } from '../verify/trust-roots';
import {
  CONDITION_OPERATORS,
  invalidVariable,
  type Condition,
  type ConditionBlock,
  type ConditionOperator,
} from './conditions';
import { FieldReader, formatPath, type PathSegment, type ReadContext } from './fields';
import type { PolicyProblem } from './problems';
import type {
  Attestation,
  Attestor,
  AttestorSet,
  CertificateAttestor,
  CtlogOptions,
  ImageExtractor,
  FailureAction,
  FailureActionOverride,
  FailurePolicy,
  ImageVerification,
  KeyAttestor,
  KeylessAttestor,
  LabelSelector,
  Operation,
  Policy,
  RekorOptions,
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
  context:
    'context entries (ConfigMap, apiCall, imageRegistry, variable) need cluster state or lookups an external webhook does not make; ' +
    NOT_YET,
  celPreconditions: 'CEL preconditions are ' + NOT_YET,
};
const UNSUPPORTED_VERIFY_FIELDS: Record<string, string> = {
  validate:
    'validate (deny over the attestations of an image) is ' + NOT_YET + '; use attestations[].conditions',
};
const UNSUPPORTED_KEY_FIELDS: Record<string, string> = {
  kms: 'KMS keys are ' + NOT_YET + '; put the public key PEM in publicKeys',
  secret: 'an external webhook cannot read Kubernetes Secrets; put the public key PEM in publicKeys',
};

const VARIABLES =
  'Kyverno variables ({{ ... }}) need cluster context imagegate does not have; put the PEM itself here';
const KMS_OR_SECRET_REFERENCE: [RegExp, string][] = [
  [/^k8s:\/\//, UNSUPPORTED_KEY_FIELDS.secret ?? ''],
  [/^(?:awskms|gcpkms|azurekms|hashivault):\/\//, UNSUPPORTED_KEY_FIELDS.kms ?? ''],
  [/\{\{.*\}\}/s, VARIABLES],
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
  options: ParseOptions = {},
): { policies: Policy[]; problems: PolicyProblem[] } {
  const previous = activeTrust;
  activeTrust = options.trust;
  try {
    return parseDocuments(text, source);
  } finally {
    activeTrust = previous;
  }
}

/** What parsing checks a policy against besides its own text. */
export interface ParseOptions {
  /**
   * The trust roots the webhook runs with: a `rekor.url` must name one of their logs (or come
   * with `rekor.pubkey`). Default: the shipped public-good root only.
   */
  readonly trust?: TrustRoots | undefined;
}

/** The trust roots of the parse in progress (parsing is synchronous, so this cannot interleave). */
let activeTrust: TrustRoots | undefined;

function parseDocuments(text: string, source: string): { policies: Policy[]; problems: PolicyProblem[] } {
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
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // yaml refuses to expand aliases past maxAliasCount (a "billion laughs" document).
      problems.push({ source, line: undefined, path: '', message: `YAML error: ${describeError(error)}` });
      return;
    }
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
  const verifyImages = resolveFailureActions(reader.list('verifyImages').map(readVerifyImages), defaults);
  const imageExtractors = readImageExtractors(reader.object('imageExtractors'));
  const preconditions = readPreconditions(reader);
  reader.accept('skipBackgroundRequests', 'reportProperties');
  reader.rejectUnknown(UNSUPPORTED_RULE_FIELDS);
  if (
    !reader.has('verifyImages') &&
    !Object.keys(UNSUPPORTED_RULE_FIELDS).some((field) => reader.has(field))
  ) {
    reader.problem('verifyImages', 'is required: imagegate evaluates verifyImages rules');
  } else if (Array.isArray(reader.raw('verifyImages')) && verifyImages.length === 0) {
    reader.problem('verifyImages', 'must not be empty: a rule without entries checks no image');
  }
  if (!name || !match) return undefined;
  return {
    name,
    match,
    exclude,
    verifyImages,
    imageExtractors,
    preconditions,
  };
}

/** `preconditions`: `{any, all}`, or Kyverno's legacy list form (every condition must hold). */
function readPreconditions(reader: FieldReader): ConditionBlock | undefined {
  const value = reader.raw('preconditions');
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    return { any: [], all: reader.list('preconditions').flatMap(readCondition) };
  }
  const block = reader.object('preconditions');
  return block ? readConditionBlock(block) : undefined;
}

/** One `{any, all}` block of Kyverno conditions. */
function readConditionBlock(reader: FieldReader): ConditionBlock {
  const any = reader.list('any').flatMap(readCondition);
  const all = reader.list('all').flatMap(readCondition);
  reader.rejectUnknown();
  if (!reader.has('any') && !reader.has('all')) reader.problem(undefined, 'needs any or all');
  return { any, all };
}

/** A Kyverno condition: `key`, `operator`, `value`, `message`; its `{{ }}` variables must be valid JMESPath. */
function readCondition(reader: FieldReader): Condition[] {
  const key = reader.raw('key');
  if (key === undefined || key === null) reader.problem('key', 'is required');
  const operator = reader.string('operator', { required: true, allowed: CONDITION_OPERATORS }) as
    ConditionOperator | undefined;
  const value = reader.raw('value') ?? null;
  const message = reader.string('message');
  reader.rejectUnknown();
  const valid = checkVariables(reader, 'key', key) && checkVariables(reader, 'value', value);
  if (key === undefined || key === null || !operator || !valid) return [];
  return [{ key, operator, value, message }];
}

const VARIABLE_TEXT = /\{\{\s*(.+?)\s*\}\}/g;

/**
 * Reports the first `{{ }}` variable of `value` that imagegate cannot evaluate: invalid JMESPath,
 * a function JMESPath does not define (Kyverno's own functions), or a nested variable.
 */
function checkVariables(reader: FieldReader, field: string, value: unknown): boolean {
  for (const [variable] of JSON.stringify(value ?? null).matchAll(VARIABLE_TEXT)) {
    const problem = invalidVariable(JSON.parse(`"${variable}"`) as string);
    if (!problem) continue;
    const unknownFunction = /Unknown function: ([\w]+)\(\)/.exec(problem);
    if (unknownFunction) {
      reader.problem(
        field,
        `is not supported: JMESPath function ${unknownFunction[1] ?? ''}() is not available (Kyverno's own functions are ${NOT_YET})`,
      );
    } else if (/'\{\{|"\{\{/.test(problem) || /\{\{[^}]*\{\{/.test(variable)) {
      reader.problem(field, `is not supported: nested variables ({{ inside {{ }}) are ${NOT_YET}`);
    } else {
      reader.problem(field, problem);
    }
    return false;
  }
  return true;
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

/** Kyverno's words for `mutateDigest: true` under Audit (its curly quotes included). */
export const AUDIT_MUTATE_DIGEST_MESSAGE =
  'mutateDigest must be set to false for \u2018Audit\u2019 failure action';

/** A verifyImages entry as read, before the rule's failure action is known. */
interface EntryDraft {
  readonly reader: FieldReader;
  readonly explicitAction: FailureAction | undefined;
  readonly entry: Omit<ImageVerification, 'failureAction' | 'failureActionOverrides'>;
}

/**
 * Kyverno's failure action, decided per rule (`EngineResponse.failureActionForRule`): when any
 * entry sets `failureAction`, the rule takes `Enforce` if one says so, else the first one set, and
 * the policy's action and overrides do not count; only a rule whose entries set none takes the
 * policy's `validationFailureAction` and `validationFailureActionOverrides`. Every entry carries
 * the rule's outcome. `mutateDigest` is checked as Kyverno's policy validation does: against the
 * last action set by this or an earlier entry, else the policy's.
 */
function resolveFailureActions(drafts: readonly EntryDraft[], defaults: PolicyDefaults): ImageVerification[] {
  const explicit = drafts.flatMap((draft) => (draft.explicitAction ? [draft.explicitAction] : []));
  const ruleAction = explicit.includes('Enforce') ? 'Enforce' : explicit[0];
  let validationAction = defaults.action;
  return drafts.map((draft) => {
    validationAction = draft.explicitAction ?? validationAction;
    if (validationAction === 'Audit' && draft.entry.mutateDigest) {
      draft.reader.problem('mutateDigest', AUDIT_MUTATE_DIGEST_MESSAGE);
    }
    return {
      ...draft.entry,
      failureAction: ruleAction ?? defaults.action,
      failureActionOverrides: ruleAction ? [] : defaults.overrides,
    };
  });
}

function readVerifyImages(reader: FieldReader): EntryDraft {
  const path = reader.path;
  const type = reader.string('type', { allowed: ['Cosign', 'SigstoreBundle', 'Notary'] }) ?? 'Cosign';
  if (type === 'Notary') reader.problem('type', `is not supported: Notary verification is ${NOT_YET}`);

  const image = reader.string('image');
  const imageReferences = [...reader.stringList('imageReferences'), ...(image ? [image] : [])];
  if (imageReferences.length === 0)
    reader.problem('imageReferences', 'is required (an image reference is required)');
  const skipImageReferences = reader.stringList('skipImageReferences');

  const explicitAction = readFailureAction(reader, 'failureAction');
  const mutateDigest = reader.boolean('mutateDigest', true);
  const verifyDigest = reader.boolean('verifyDigest', true);
  const required = reader.boolean('required', true);
  const useCache = reader.boolean('useCache', true);
  const repository = readRepository(reader);
  if (reader.boolean('cosignOCI11', false)) reader.problem('cosignOCI11', `is not supported: ${NOT_YET}`);

  const credentialSecrets = readRegistryCredentials(reader.object('imageRegistryCredentials'));
  const attestorSets = reader.list('attestors').map(readAttestorSet);
  const legacy = readLegacyAttestor(reader);
  attestorSets.push(...legacy);
  const attestations = reader.list('attestations').flatMap(readAttestation);
  reader.rejectUnknown(UNSUPPORTED_VERIFY_FIELDS);
  requireSomethingVerified(reader, legacy.length > 0 || reader.has('key') || reader.has('issuer'));

  return {
    reader,
    explicitAction,
    entry: {
      path: formatPath(path),
      imageReferences,
      skipImageReferences,
      attestorSets,
      repository,
      mutateDigest,
      verifyDigest,
      required,
      useCache,
      credentialSecrets,
      type: type === 'SigstoreBundle' ? 'SigstoreBundle' : 'Cosign',
      attestations,
    },
  };
}

/**
 * An entry that lists `attestors: []` or `attestations: []` and nothing else verifies no
 * signature, yet every image it matched would pass as verified: refused. An entry with neither
 * field at all stays a Kyverno digest-only entry (`mutateDigest` pins the digest, `verifyDigest`
 * requires one) and loads.
 */
function requireSomethingVerified(reader: FieldReader, hasLegacyAttestor: boolean): void {
  const length = (name: string) => {
    const value = reader.raw(name);
    return Array.isArray(value) ? value.length : value === undefined || value === null ? undefined : 1;
  };
  const attestors = length('attestors');
  const attestations = length('attestations');
  if (hasLegacyAttestor || (attestors ?? 0) > 0 || (attestations ?? 0) > 0) return;
  const empty = attestors === 0 ? 'attestors' : attestations === 0 ? 'attestations' : undefined;
  if (!empty) return;
  reader.problem(
    empty,
    'must not be empty: an entry with no attestors and no attestations verifies no signature, and every image it matches would be admitted as verified; list the keys, certificates or keyless identities that sign the images (or leave both fields out for a digest-only entry)',
  );
}

/**
 * `attestations[]`: `type` (or the deprecated `predicateType`), `name`, `attestors` (required:
 * Kyverno's empty attestor would accept any Sigstore certificate) and `conditions`.
 */
function readAttestation(reader: FieldReader): Attestation[] {
  const name = reader.string('name');
  const type = reader.string('type');
  const predicateType = reader.string('predicateType');
  if (type !== undefined && predicateType !== undefined && type !== predicateType) {
    reader.problem(
      'predicateType',
      `is ${JSON.stringify(predicateType)} but type is ${JSON.stringify(type)}; give one`,
    );
  }
  const resolved = type ?? predicateType;
  if (resolved === undefined) {
    reader.problem(
      'type',
      'is required (the predicateType of the in-toto statements, e.g. https://slsa.dev/provenance/v0.2)',
    );
  } else if (resolved.trim() === '') {
    reader.problem(type !== undefined ? 'type' : 'predicateType', 'must not be empty');
  }
  const attestorSets = reader.list('attestors').map(readAttestorSet);
  if (!reader.has('attestors') || (Array.isArray(reader.raw('attestors')) && attestorSets.length === 0)) {
    reader.problem(
      'attestors',
      'is required: without attestors Kyverno accepts a statement signed by any certificate of the Sigstore CA, whoever it names; give the keys, certificates or keyless identity that sign the attestation',
    );
  }
  const conditions = reader.list('conditions').map(readConditionBlock);
  reader.rejectUnknown();
  if (!resolved?.trim()) return [];
  return [{ path: formatPath(reader.path), name, type: resolved, attestorSets, conditions }];
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
  const rawEntries = reader.raw('entries');
  const entries = reader.list('entries', { required: true }).flatMap(readAttestorEntry);
  reader.rejectUnknown();
  if (Array.isArray(rawEntries) && rawEntries.length === 0) {
    // Required count 0: the set would pass for every image, signed or not (Kyverno: "An entry is required").
    reader.problem(
      'entries',
      'must not be empty: an attestor set without entries is satisfied by every image, signed or not',
    );
  }
  // With no usable entry the entries' own problems say what is wrong.
  if (count !== undefined && entries.length > 0 && count > entries.length) {
    reader.problem(
      'count',
      `is ${count} but the set has only ${entries.length} attestors: it could never be satisfied`,
    );
  }
  return { path: formatPath(reader.path), count, entries };
}

/**
 * The rule-level legacy attestor (Kyverno's `ImageVerification.Convert`): `key`, or `issuer`
 * with `subject`, `roots` and `additionalExtensions` (keyless), with `annotations`.
 */
function readLegacyAttestor(reader: FieldReader): AttestorSet[] {
  const path = reader.path;
  const key = reader.string('key');
  const annotations = reader.stringMap('annotations');
  const keylessFields = ['issuer', 'subject', 'roots', 'additionalExtensions'].filter((field) =>
    reader.has(field),
  );
  if (key !== undefined) {
    for (const field of keylessFields) reader.problem(field, 'applies only without the rule-level key');
    reader.accept(...keylessFields);
    const entries = readKeys(key, [...path, 'key'], reader, 'sha256', annotations, undefined, {
      rekor: NO_LOG,
      ctlog: { requireSct: false, publicKey: undefined, tsaCertChain: undefined },
    });
    return [{ path: formatPath([...path, 'key']), count: undefined, entries }];
  }
  if (reader.has('issuer')) {
    const keyless = readKeylessFields(reader, annotations, undefined, { rule: true });
    return keyless ? [{ path: formatPath([...path, 'issuer']), count: undefined, entries: [keyless] }] : [];
  }
  for (const field of keylessFields)
    reader.problem(field, 'applies only together with the rule-level issuer');
  reader.accept(...keylessFields);
  if (Object.keys(annotations).length > 0) {
    reader.problem('annotations', 'applies only together with the rule-level key or issuer');
  }
  return [];
}

const ATTESTOR_KINDS = ['keys', 'keyless', 'certificates', 'attestor'] as const;

function readAttestorEntry(reader: FieldReader): Attestor[] {
  const annotations = reader.stringMap('annotations');
  const repository = readRepository(reader);
  const entryHash = readHash(reader, 'signatureAlgorithm');
  const kinds = ATTESTOR_KINDS.filter((kind) => reader.has(kind));
  reader.accept(...ATTESTOR_KINDS);
  reader.rejectUnknown();
  if (kinds.length !== 1) {
    reader.problem(undefined, 'must have exactly one of keys, certificates, keyless or attestor');
    return [];
  }
  switch (kinds[0]) {
    case 'attestor': {
      const nested = reader.object('attestor');
      return nested ? [{ path: formatPath(nested.path), kind: 'set', set: readAttestorSet(nested) }] : [];
    }
    case 'keys': {
      const keys = reader.object('keys');
      if (!keys) return [];
      const hash = readHash(keys, 'signatureAlgorithm') ?? entryHash ?? 'sha256';
      const rekor = readRekor(keys, false);
      const ctlog = readCtlog(keys, 'key');
      const publicKeys = keys.string('publicKeys', { required: !keys.has('kms') && !keys.has('secret') });
      keys.rejectUnknown(UNSUPPORTED_KEY_FIELDS);
      if (publicKeys === undefined) return [];
      return readKeys(publicKeys, [...keys.path, 'publicKeys'], keys, hash, annotations, repository, {
        rekor,
        ctlog,
      });
    }
    case 'keyless': {
      const keyless = reader.object('keyless');
      const attestor = keyless && readKeylessFields(keyless, annotations, repository, { rule: false });
      return attestor ? [attestor] : [];
    }
    case 'certificates': {
      const certificates = reader.object('certificates');
      const attestor = certificates && readCertificates(certificates, annotations, repository, entryHash);
      return attestor ? [attestor] : [];
    }
    default:
      return [];
  }
}

function readKeys(
  pem: string,
  path: readonly PathSegment[],
  reader: FieldReader,
  hash: SignatureHash,
  annotations: Record<string, string>,
  repository: string | undefined,
  logs: { rekor: RekorOptions; ctlog: CtlogOptions },
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
      ...logs,
    }));
  } catch (error) {
    if (!(error instanceof KeyParseError)) throw error;
    reader.problem(String(path[path.length - 1]), error.message);
    return [];
  }
}

/** A key needs no transparency-log entry unless its `rekor` asks for one (ADR 1). */
const NO_LOG: RekorOptions = { required: false, url: undefined, publicKey: undefined };

/**
 * `keyless` (or the rule-level `issuer`, `subject`, `roots`, `additionalExtensions`): the
 * identity the Fulcio certificate must carry, the CA it must chain to, and the log requirements.
 * `subject` and `issuer` use Kyverno's wildcards; `subjectRegExp` and `issuerRegExp` must match
 * the whole value (anchored, unlike cosign).
 */
function readKeylessFields(
  reader: FieldReader,
  annotations: Record<string, string>,
  repository: string | undefined,
  options: { rule: boolean },
): KeylessAttestor | undefined {
  const subject = reader.string('subject');
  const issuer = reader.string('issuer');
  const subjectRegExp = options.rule ? undefined : readRegExp(reader, 'subjectRegExp');
  const issuerRegExp = options.rule ? undefined : readRegExp(reader, 'issuerRegExp');
  const extensions = Object.entries(reader.stringMap('additionalExtensions')).flatMap(([name, pattern]) => {
    const oid =
      FULCIO_EXTENSIONS[name] ?? (Object.values(FULCIO_EXTENSIONS).includes(name) ? name : undefined);
    if (!oid) {
      reader.problem(
        'additionalExtensions',
        `unknown certificate extension ${JSON.stringify(name)} (known: ${Object.keys(FULCIO_EXTENSIONS).join(', ')} or their OIDs)`,
      );
      return [];
    }
    return [{ name, oid, matcher: wildcard(pattern) }];
  });
  const identity: IdentityPolicy = {
    subject: [...(subject ? [wildcard(subject)] : []), ...(subjectRegExp ? [subjectRegExp] : [])],
    issuer: [...(issuer ? [wildcard(issuer)] : []), ...(issuerRegExp ? [issuerRegExp] : [])],
    extensions,
  };
  const roots = readCertificateField(reader, 'roots', 100);
  const rekor = options.rule ? readRekorDefaults(true) : readRekor(reader, true);
  const ctlog: CtlogOptions = options.rule
    ? { requireSct: true, publicKey: undefined, tsaCertChain: undefined }
    : readCtlog(reader, 'certificate');
  if (!options.rule) reader.rejectUnknown();
  const matchesAnything = (pattern: string | undefined) => pattern !== undefined && /^\*+$/.test(pattern);
  const anonymous =
    identity.subject.length + identity.issuer.length + identity.extensions.length === 0 ||
    (subjectRegExp === undefined &&
      issuerRegExp === undefined &&
      extensions.length === 0 &&
      [subject, issuer].every((pattern) => !pattern || matchesAnything(pattern)));
  if (anonymous && !reader.has('roots')) {
    reader.problem(
      undefined,
      'needs subject, subjectRegExp, issuer, issuerRegExp or additionalExtensions (a lone * matches every identity): without an identity any certificate of the trusted Fulcio CAs would pass (or trust only your own CA with roots)',
    );
    return undefined;
  }
  return {
    path: formatPath(reader.path),
    kind: 'keyless',
    identity,
    roots,
    annotations,
    repository,
    rekor,
    ctlog,
  };
}

function readCertificates(
  reader: FieldReader,
  annotations: Record<string, string>,
  repository: string | undefined,
  hash: SignatureHash | undefined,
): CertificateAttestor | undefined {
  const cert = readCertificateField(reader, 'cert', 100, { base64: true })?.[0];
  const certChain = readCertificateField(reader, 'certChain');
  const rekor = readRekor(reader, true);
  const ctlog = readCtlog(reader, 'certificate');
  reader.rejectUnknown();
  if (!reader.has('cert') && !reader.has('certChain')) {
    reader.problem(undefined, 'needs cert or certChain (for Fulcio certificates use keyless)');
    return undefined;
  }
  return {
    path: formatPath(reader.path),
    kind: 'certificate',
    cert,
    certChain,
    hash: hash ?? 'sha256',
    annotations,
    repository,
    rekor,
    ctlog,
  };
}

function readRekorDefaults(required: boolean): RekorOptions {
  return { required, url: undefined, publicKey: undefined };
}

/**
 * `rekor`: `ignoreTlog`, `url` and `pubkey`. The log is only ever checked offline from the
 * signature's own proof; `url` must name a log of the trust roots unless `pubkey` gives its key.
 */
function readRekor(parent: FieldReader, requiredByDefault: boolean): RekorOptions {
  const rekor = parent.object('rekor');
  if (!rekor) return readRekorDefaults(requiredByDefault);
  const required = !rekor.boolean('ignoreTlog', false);
  const url = rekor.string('url');
  const publicKey = readPublicKeyField(rekor, 'pubkey');
  rekor.rejectUnknown();
  if (url !== undefined && !/^https?:\/\/[^/\s]+/.test(url)) {
    rekor.problem('url', `must be an http(s) URL, got ${JSON.stringify(url)}`);
  } else if (url !== undefined && required && !publicKey) {
    const trust = activeTrust ?? publicGoodTrustRoots();
    if (!trust.tlogs.some((log) => sameLogUrl(log.baseURL, url))) {
      rekor.problem(
        'url',
        `names transparency log ${url}, which no trust root has (known: ${[...new Set(trust.tlogs.map((log) => log.baseURL))].join(', ')}); add its trusted_root.json to IMAGEGATE_TRUST_ROOTS or give its key in rekor.pubkey`,
      );
    }
  }
  return { required, url, publicKey };
}

/** `ctlog`: `ignoreSCT`, `pubkey` and `tsaCertChain`. SCTs belong to certificates: a key never needs one. */
function readCtlog(parent: FieldReader, signer: 'key' | 'certificate'): CtlogOptions {
  const ctlog = parent.object('ctlog');
  if (!ctlog) return { requireSct: signer === 'certificate', publicKey: undefined, tsaCertChain: undefined };
  const ignoreSCT = ctlog.boolean('ignoreSCT', false);
  const publicKey = readPublicKeyField(ctlog, 'pubkey');
  const chain = readCertificateField(ctlog, 'tsaCertChain', 12);
  ctlog.rejectUnknown();
  let tsaCertChain: X509Certificate[] | undefined;
  if (chain) {
    const leaves = chain.filter((certificate) => !certificate.isCA);
    const selfSigned = (certificate: X509Certificate) => certificate.subject.equals(certificate.issuer);
    if (leaves.length > 1) {
      ctlog.problem(
        'tsaCertChain',
        `must hold at most one timestamping (non-CA) certificate, found ${leaves.length}`,
      );
    } else {
      const intermediates = chain.filter((certificate) => certificate.isCA && !selfSigned(certificate));
      const roots = chain.filter((certificate) => certificate.isCA && selfSigned(certificate));
      tsaCertChain = [...leaves, ...intermediates, ...roots];
    }
  }
  return { requireSct: signer === 'certificate' && !ignoreSCT, publicKey, tsaCertChain };
}

function readPublicKeyField(reader: FieldReader, name: string): KeyObject | undefined {
  const pem = reader.string(name);
  if (pem === undefined) return undefined;
  try {
    const keys = parsePublicKeys(pem);
    if (keys.length > 1) reader.problem(name, 'must hold one public key');
    return keys[0]?.key;
  } catch (error) {
    if (!(error instanceof KeyParseError)) throw error;
    reader.problem(name, error.message);
    return undefined;
  }
}

/** PEM certificates (Kyverno also accepts the PEM base64-encoded in `cert`). */
function readCertificateField(
  reader: FieldReader,
  name: string,
  max?: number,
  options: { base64?: boolean } = {},
): X509Certificate[] | undefined {
  let pem = reader.string(name);
  if (pem === undefined) return undefined;
  if (/\{\{.*\}\}/s.test(pem)) {
    reader.problem(name, `is not supported: ${VARIABLES}`);
    return undefined;
  }
  if (options.base64 && !pem.includes('-----BEGIN')) pem = Buffer.from(pem, 'base64').toString('utf8');
  try {
    return parseCertificatesPem(pem, max);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    reader.problem(name, error.message);
    return undefined;
  }
}

function readRegExp(reader: FieldReader, name: string): ValueMatcher | undefined {
  const pattern = reader.string(name);
  if (pattern === undefined) return undefined;
  try {
    return anchoredRegExp(pattern);
  } catch (error) {
    reader.problem(name, `is not a valid regular expression: ${describeError(error)}`);
    return undefined;
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
