import type { AdmissionRequest } from '../model/admission';
import { anyMatches, compileWildcard, type WildcardMatcher } from '../model/wildcard';
import type { LabelSelector, Policy, ResourceDescription, ResourceFilter, Rule, Subject } from './types';
import type { PolicySet } from './policy-set';

/** A rule that applies to a request, with the name Kyverno reports it under. */
export interface RuleBinding {
  readonly policy: Policy;
  readonly rule: Rule;
  /** `rule.name`, or `autogen-<name>` / `autogen-cronjob-<name>` when it applies through autogen. */
  readonly ruleName: string;
}

/**
 * Why a rule of the set does not apply to a request, as data (Pepr's `shouldSkipRequest`):
 * - `namespace`: the rule's namespaced `Policy` is for another namespace;
 * - `excluded`: an `exclude` entry matches (directly, or through autogen for a pod controller);
 * - `not-matched`: no `match` entry matches, directly or through autogen.
 */
export type RuleSkipReason = 'namespace' | 'excluded' | 'not-matched';

/** A rule that does not apply to a request, and why. */
export interface SkippedRule {
  readonly policy: Policy;
  readonly rule: Rule;
  readonly reason: RuleSkipReason;
}

/** Every rule of the set that applies to the request, in policy and rule order. */
export function selectRules(policySet: PolicySet, request: AdmissionRequest): RuleBinding[] {
  return selectRulesWithReasons(policySet, request).bindings;
}

/** {@link selectRules}, with every other rule of the set and the reason it does not apply. */
export function selectRulesWithReasons(
  policySet: PolicySet,
  request: AdmissionRequest,
): { bindings: RuleBinding[]; skipped: SkippedRule[] } {
  const bindings: RuleBinding[] = [];
  const skipped: SkippedRule[] = [];
  for (const policy of policySet.policies) {
    const otherNamespace = policy.namespace !== undefined && policy.namespace !== request.namespace;
    for (const rule of policy.rules) {
      const applies = otherNamespace
        ? { reason: 'namespace' as const }
        : applicability(policy, rule, request);
      if ('ruleName' in applies) bindings.push({ policy, rule, ruleName: applies.ruleName });
      else skipped.push({ policy, rule, reason: applies.reason });
    }
  }
  return { bindings, skipped };
}

function applicability(
  policy: Policy,
  rule: Rule,
  request: AdmissionRequest,
): { ruleName: string } | { reason: RuleSkipReason } {
  const object = request.object ?? request.oldObject;
  if (rule.exclude && filterMatches(rule.exclude, request, object, kindMatchesDirectly)) {
    return { reason: 'excluded' };
  }
  if (filterMatches(rule.match, request, object, kindMatchesDirectly)) return { ruleName: rule.name };

  const kind = request.kind.kind;
  if (!policy.autogenControllers.includes(kind)) return { reason: 'not-matched' };
  const throughPod = (patterns: readonly KindPattern[]) =>
    patterns.some((pattern) => kindPatternMatches(pattern, podKind));
  if (rule.exclude && filterMatches(rule.exclude, request, object, throughPod)) return { reason: 'excluded' };
  if (!filterMatches(rule.match, request, object, throughPod)) return { reason: 'not-matched' };
  // Kyverno cuts generated rule names to 63 characters.
  return {
    ruleName: (kind === 'CronJob' ? `autogen-cronjob-${rule.name}` : `autogen-${rule.name}`).slice(0, 63),
  };
}

const podKind = { group: '', version: 'v1', kind: 'Pod', subResource: undefined };

type KindTest = (patterns: readonly KindPattern[], request: AdmissionRequest) => boolean;

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
  if (description.names.length > 0 && !anyMatches(description.names, name)) return false;
  if (description.namespaces.length > 0 && !anyMatches(description.namespaces, request.namespace ?? ''))
    return false;
  const metadata = (object?.metadata ?? {}) as {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  for (const [key, pattern] of Object.entries(description.annotations)) {
    const value = metadata.annotations?.[key];
    if (value === undefined || !pattern.matches(value)) return false;
  }
  if (description.selector && !selectorMatches(description.selector, metadata.labels ?? {})) return false;
  return true;
}

/**
 * A Kyverno kind pattern, compiled at load: `Pod`, `v1/Pod`, `apps/v1/Deployment`,
 * `Pod/ephemeralcontainers`, with `*` wildcards in any part.
 */
export interface KindPattern {
  /** The pattern as written. */
  readonly pattern: string;
  readonly group: WildcardMatcher;
  readonly version: WildcardMatcher;
  readonly kind: WildcardMatcher;
  /** `undefined`: no subresource named (the plain kind, and a Pod's ephemeral containers). */
  readonly subResource: WildcardMatcher | undefined;
}

/** Splits and compiles a kind pattern (once, when the policy is loaded). */
export function compileKindPattern(pattern: string): KindPattern {
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
  return {
    pattern,
    group: compileWildcard(group),
    version: compileWildcard(version),
    kind: compileWildcard(kind),
    subResource: subResource === undefined ? undefined : compileWildcard(subResource),
  };
}

/** Whether a compiled kind pattern matches a kind; a plain kind does not match subresource requests. */
export function kindPatternMatches(
  pattern: KindPattern,
  target: { group: string; version: string; kind: string; subResource: string | undefined },
): boolean {
  if (!pattern.group.matches(target.group) || !pattern.version.matches(target.version)) return false;
  if (!pattern.kind.matches(target.kind)) return false;
  const { subResource } = pattern;
  // `Pod` also covers `pods/ephemeralcontainers` (kubectl debug): otherwise a debug container
  // would run an image no rule ever checked.
  if (subResource?.pattern === '*') return true;
  if (subResource === undefined) {
    return (
      target.subResource === undefined ||
      (target.kind === 'Pod' && target.subResource === 'ephemeralcontainers')
    );
  }
  return target.subResource !== undefined && subResource.matches(target.subResource);
}

function stringField(object: unknown, field: string): string {
  const value = (object as Record<string, unknown> | undefined)?.[field];
  return typeof value === 'string' ? value : '';
}

/** Kyverno `subjects`: a user name, a group, or a service account, names with wildcards. */
function subjectMatches(subject: Subject, request: AdmissionRequest): boolean {
  const { username, groups } = request.userInfo;
  return subject.kind === 'Group'
    ? groups.some((group) => subject.matcher.matches(group))
    : subject.matcher.matches(username);
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
