/**
 * Every text imagegate writes into an admission answer, in Kyverno's words, made from a check's
 * typed outcome. This is the one module that words outcomes; nothing reads these texts back.
 */
import type { AdmissionRequest } from '../model/admission';
import { statusOf, type CheckCause } from '../model/outcome';
import { goYamlTwoLevelMap } from './go-yaml';

/** Who a check belongs to, for the texts that name it. */
export interface CheckSubject {
  /** Kyverno's normalised image (as in patterns), or the raw text when it cannot be read. */
  readonly image: string;
  readonly policyName: string;
  readonly ruleName: string;
}

/** The message of a check that passed: its signatures, or (with attestations) its attestations. */
export function passMessage(image: string, attestations: boolean): string {
  return attestations ? `verified image attestations for ${image}` : `verified image signatures for ${image}`;
}

/** The message of a check that did not pass, from its cause. */
export function checkMessage(subject: CheckSubject, cause: CheckCause): string {
  const { image } = subject;
  switch (cause.kind) {
    case 'skipped':
      // Kyverno's words (imageverifier.go); the warning prefixes `policy P.R: ` (ruleWarning).
      return `skipping image reference image ${image}, policy ${subject.policyName} ruleName ${subject.ruleName}`;
    case 'digest-missing':
      return `missing digest for ${image}`;
    case 'reference':
      return `image verification failed for ${image}: ${cause.detail}`;
    case 'deadline':
    case 'internal':
      return `could not verify image ${image}: ${cause.detail}`;
    case 'registry':
    case 'verification':
      if (statusOf(cause) === 'error') return `could not verify image ${image}: ${cause.detail}`;
      return cause.attestations
        ? `image attestations verification failed for ${image}: ${cause.detail}`
        : `image verification failed for ${image}: ${cause.detail}`;
  }
}

/** A check's message as a warning: `policy P.R: message`, as Kyverno's admission warnings read. */
export function ruleWarning(policyName: string, ruleName: string, message: string): string {
  return `policy ${policyName}.${ruleName}: ${message}`;
}

/** A warning for an error let through because the policy's failurePolicy is Ignore. */
export function ignoredErrorWarning(policyName: string, ruleName: string, message: string): string {
  return `${ruleWarning(policyName, ruleName, message)} (allowed: failurePolicy is Ignore)`;
}

/**
 * Kyverno's denial layout (`GetBlockedMessages`): a header line, then a YAML map of policy ->
 * rule -> message, keys sorted as Go marshals maps. Several messages for one rule (several
 * failing images) are joined with "; " where Kyverno would keep only the last.
 */
export function blockedMessage(
  request: AdmissionRequest,
  blocked: ReadonlyMap<string, ReadonlyMap<string, string[]>>,
): string {
  const tree: Record<string, Record<string, string>> = {};
  for (const policyName of [...blocked.keys()].sort()) {
    const rules = blocked.get(policyName) ?? new Map<string, string[]>();
    tree[policyName] = Object.fromEntries(
      [...rules.keys()].sort().map((rule) => [rule, (rules.get(rule) ?? []).join('; ')]),
    );
  }
  const resource = `${request.kind.kind}/${request.namespace ?? ''}/${request.name}`;
  return `\n\nresource ${resource} was blocked due to the following policies \n\n${goYamlTwoLevelMap(tree)}`;
}
