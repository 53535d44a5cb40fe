/**
 * A policy document: kind, metadata, the autogen annotation, the failure action and its overrides,
 * the webhook failure policy, and each rule.
 */
import { POD_CONTROLLERS } from '../../model/kinds';
import { compileWildcard } from '../../model/wildcard';
import { FieldReader, type CompileContext } from '../fields';
import type {
  FailureAction,
  FailureActionOverride,
  ImageExtractor,
  ImageVerification,
  Policy,
  Rule,
} from '../types';
import { readPreconditions } from './conditions';
import { readFilter } from './filters';
import { NAMESPACE_SELECTOR, NOT_YET, UNSUPPORTED_RULE_FIELDS } from './unsupported';
import { readFailureAction } from './values';
import { readVerifyImages, type EntryDraft } from './verify-images';

const AUTOGEN_ANNOTATION = 'pod-policies.kyverno.io/autogen-controllers';
const API_VERSIONS = ['kyverno.io/v1', 'kyverno.io/v2beta1'];
const FAILURE_POLICIES = ['Fail', 'Ignore'] as const;

/** Kyverno's words for `mutateDigest: true` under Audit (its curly quotes included). */
export const AUDIT_MUTATE_DIGEST_MESSAGE =
  'mutateDigest must be set to false for \u2018Audit\u2019 failure action';

/** One document's value → a compiled policy, or `undefined` when it is not one (problems say why). */
export function readPolicy(value: unknown, context: CompileContext): Policy | undefined {
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
    webhook?.string('failurePolicy', { allowed: FAILURE_POLICIES }) ??
    spec.string('failurePolicy', { allowed: FAILURE_POLICIES }) ??
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
  return descriptions.every((description) => {
    const kinds = description.kinds.map((kind) => kind.pattern);
    return (
      description.names.length === 0 &&
      description.selector === undefined &&
      Object.keys(description.annotations).length === 0 &&
      (kinds.every(isPodKind) || !kinds.some(isPodKind))
    );
  });
}

function isPodKind(pattern: string): boolean {
  return pattern === 'Pod' || pattern.endsWith('/Pod');
}

function readOverride(reader: FieldReader): FailureActionOverride {
  const action = readFailureAction(reader, 'action') ?? 'Audit';
  if (!reader.has('action')) reader.problem('action', 'is required');
  const namespaces = reader.stringList('namespaces');
  reader.rejectUnknown({ namespaceSelector: NAMESPACE_SELECTOR });
  return { action, namespaces: namespaces.map(compileWildcard) };
}

/** The policy's failure action and overrides, which a rule takes when none of its entries sets one. */
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
