import type { AdmissionRequest } from '../admission/types';
import { matchesAny, wildcardMatch } from './wildcard';
import type { LabelSelector, Policy, ResourceDescription, ResourceFilter, Rule, Subject } from './types';
import type { PolicySet } from './policy-set';

/** A rule that applies to a request, with the name Kyverno reports it under. */
export interface RuleBinding {
  readonly policy: Policy;
  readonly rule: Rule;
  /** `rule.name`, or `autogen-<name>` / `autogen-cronjob-<name>` when it applies through autogen. */
  readonly ruleName: string;
}

/** Every rule of the set that applies to the request, in policy and rule order. */
export function selectRules(policySet: PolicySet, request: AdmissionRequest): RuleBinding[] {
  const bindings: RuleBinding[] = [];
  for (const policy of policySet.policies) {
    if (policy.namespace !== undefined && policy.namespace !== request.namespace) continue;
    for (const rule of policy.rules) {
      const ruleName = applicableName(policy, rule, request);
      if (ruleName !== undefined) bindings.push({ policy, rule, ruleName });
    }
  }
  return bindings;
}

function applicableName(policy: Policy, rule: Rule, request: AdmissionRequest): string | undefined {
  const object = request.object ?? request.oldObject;
  if (rule.exclude && filterMatches(rule.exclude, request, object, kindMatchesDirectly)) return undefined;
  if (filterMatches(rule.match, request, object, kindMatchesDirectly)) return rule.name;

  const kind = request.kind.kind;
  if (!policy.autogenControllers.includes(kind)) return undefined;
  const throughPod = (patterns: readonly string[]) =>
    patterns.some((pattern) => kindPatternMatches(pattern, podKind));
  if (rule.exclude && filterMatches(rule.exclude, request, object, throughPod)) return undefined;
  if (!filterMatches(rule.match, request, object, throughPod)) return undefined;
  // Kyverno cuts generated rule names to 63 characters.
  return (kind === 'CronJob' ? `autogen-cronjob-${rule.name}` : `autogen-${rule.name}`).slice(0, 63);
}

const podKind = { group: '', version: 'v1', kind: 'Pod', subResource: undefined };

type KindTest = (patterns: readonly string[], request: AdmissionRequest) => boolean;

const kindMatchesDirectly: KindTest = (patterns, request) =>
  patterns.some((pattern) =>
    kindPatternMatches(pattern, { ...request.kind, subResource: request.subResource }),
  );

function filterMatches(
  filter: ResourceFilter,
  request: AdmissionRequest,
  object: Readonly<Record<string, unknown>> | undefined,
  kindTest: KindTest,
): boolean {
  const test = (description: ResourceDescription) =>
    descriptionMatches(description, request, object, kindTest);
  return (filter.any.length === 0 || filter.any.some(test)) && filter.all.every(test);
}

function descriptionMatches(
  description: ResourceDescription,
  request: AdmissionRequest,
  object: Readonly<Record<string, unknown>> | undefined,
  kindTest: KindTest,
): boolean {
  // An exclude entry without kinds (only subjects, namespaces, …) applies to every kind.
  if (description.kinds.length > 0 && !kindTest(description.kinds, request)) return false;
  if (
    description.subjects.length > 0 &&
    !description.subjects.some((subject) => subjectMatches(subject, request))
  ) {
    return false;
  }
  if (description.operations.length > 0 && !description.operations.includes(request.operation)) return false;
  // Pods of a ReplicaSet have only a generateName when they are admitted; Kyverno matches on it.
  const name = request.name || stringField(object?.metadata, 'generateName');
  if (description.names.length > 0 && !matchesAny(description.names, name)) return false;
  if (description.namespaces.length > 0 && !matchesAny(description.namespaces, request.namespace ?? ''))
    return false;
  const metadata = (object?.metadata ?? {}) as {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  for (const [key, pattern] of Object.entries(description.annotations)) {
    const value = metadata.annotations?.[key];
    if (value === undefined || !wildcardMatch(pattern, value)) return false;
  }
  if (description.selector && !selectorMatches(description.selector, metadata.labels ?? {})) return false;
  return true;
}

/**
 * Kyverno kind patterns: `Pod`, `v1/Pod`, `apps/v1/Deployment`, `Pod/ephemeralcontainers`,
 * with `*` wildcards in any part. A plain kind does not match subresource requests.
 */
export function kindPatternMatches(
  pattern: string,
  target: { group: string; version: string; kind: string; subResource: string | undefined },
): boolean {
  const parts = pattern.split('/');
  let group = '*';
  let version = '*';
  let kind: string;
  let subResource: string | undefined;
  if (parts.length === 1) {
    kind = parts[0] ?? '';
  } else if (parts.length === 2) {
    const [first = '', second = ''] = parts;
    if (/^[A-Z*]/.test(first)) {
      kind = first;
      subResource = second;
    } else {
      version = first;
      kind = second;
    }
  } else {
    [group = '', version = '', kind = '', subResource] = parts;
  }
  if (!wildcardMatch(group, target.group) || !wildcardMatch(version, target.version)) return false;
  if (!wildcardMatch(kind, target.kind)) return false;
  // `Pod` also covers `pods/ephemeralcontainers` (kubectl debug): otherwise a debug container
  // would run an image no rule ever checked.
  if (subResource === '*') return true;
  if (subResource === undefined) {
    return (
      target.subResource === undefined ||
      (target.kind === 'Pod' && target.subResource === 'ephemeralcontainers')
    );
  }
  return target.subResource !== undefined && wildcardMatch(subResource, target.subResource);
}

function stringField(object: unknown, field: string): string {
  const value = (object as Record<string, unknown> | undefined)?.[field];
  return typeof value === 'string' ? value : '';
}

/** Kyverno `subjects`: a user name, a group, or a service account, names with wildcards. */
function subjectMatches(subject: Subject, request: AdmissionRequest): boolean {
  const { username, groups } = request.userInfo;
  switch (subject.kind) {
    case 'User':
      return wildcardMatch(subject.name, username);
    case 'Group':
      return groups.some((group) => wildcardMatch(subject.name, group));
    case 'ServiceAccount':
      return wildcardMatch(`system:serviceaccount:${subject.namespace ?? ''}:${subject.name}`, username);
  }
}

/** Kubernetes label selector semantics. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (labels[key] !== value) return false;
  }
  return selector.matchExpressions.every(({ key, operator, values }) => {
    const present = Object.hasOwn(labels, key);
    switch (operator) {
      case 'In':
        return present && values.includes(labels[key] ?? '');
      case 'NotIn':
        return !present || !values.includes(labels[key] ?? '');
      case 'Exists':
        return present;
      case 'DoesNotExist':
        return !present;
    }
  });
}
