import type { AdmissionDecision, AdmissionRequest, JsonPatchOperation } from '../admission/types';
import { pinnedReference, type ImageReference } from '../oci/reference';
import type { RuleBinding } from '../policy/match';
import type { FailureAction, ImageVerification } from '../policy/types';
import { matchesAny } from '../policy/wildcard';
import { goYamlTwoLevelMap } from './go-yaml';
import type { ImageSite } from '../workload/images';

/** Kyverno's rule statuses: pass, fail (not trusted), error (could not check), skip. */
export type ImageCheckResult = {
  readonly binding: RuleBinding;
  readonly entry: ImageVerification;
  readonly site: ImageSite;
  readonly image: string;
  readonly message: string;
  /** The verdict came from the verification cache. */
  readonly cacheHit?: boolean;
} & (
  | { readonly status: 'pass'; readonly digest: string; readonly ref: ImageReference }
  | { readonly status: 'fail' | 'error' | 'skip'; readonly digest?: string }
);

/**
 * Turns image check results into the admission decision:
 * - an Enforce failure, or an error under failurePolicy Fail, denies, with Kyverno's message;
 * - Audit failures, errors under failurePolicy Ignore and skips become warnings;
 * - each verified image site with `mutateDigest` gets one `replace` op pinning its digest.
 */
export function decide(request: AdmissionRequest, results: readonly ImageCheckResult[]): AdmissionDecision {
  const blocked = new Map<string, Map<string, string[]>>();
  const warnings: string[] = [];
  const patch = new Map<string, JsonPatchOperation>();

  for (const result of results) {
    const { policy } = result.binding;
    const label = `policy ${policy.name}.${result.binding.ruleName}`;
    switch (result.status) {
      case 'pass':
        if (result.entry.mutateDigest && !result.ref.digest && !patch.has(result.site.pointer)) {
          patch.set(result.site.pointer, {
            op: 'replace',
            path: result.site.pointer,
            value: pinnedReference(result.ref, result.digest),
          });
        }
        break;
      case 'skip':
        warnings.push(`${label}: ${result.message}`);
        break;
      case 'fail':
      case 'error': {
        const enforced = effectiveAction(result.entry, request.namespace) === 'Enforce';
        if (!enforced) {
          warnings.push(`${label}: ${result.message}`);
        } else if (result.status === 'error' && policy.failurePolicy === 'Ignore') {
          warnings.push(`${label}: ${result.message} (allowed: failurePolicy is Ignore)`);
        } else {
          const rules = blocked.get(policy.name) ?? new Map<string, string[]>();
          blocked.set(policy.name, rules);
          const messages = rules.get(result.binding.ruleName) ?? [];
          if (!messages.includes(result.message)) messages.push(result.message);
          rules.set(result.binding.ruleName, messages);
        }
        break;
      }
    }
  }

  const uniqueWarnings = [...new Set(warnings)];
  if (blocked.size > 0) {
    return { allowed: false, message: blockedMessage(request, blocked), warnings: uniqueWarnings, patch: [] };
  }
  return { allowed: true, message: undefined, warnings: uniqueWarnings, patch: [...patch.values()] };
}

/**
 * The failure action in force for an entry's check. Decided per rule, as Kyverno does: every entry
 * carries its rule's action (Enforce when any entry of the rule sets it, else the first action an
 * entry sets); a rule whose entries set none carries the policy's overrides, the first matching
 * `namespace` winning, and else the policy's `validationFailureAction` (lib/policy/parse.ts).
 */
export function effectiveAction(entry: ImageVerification, namespace: string | undefined): FailureAction {
  const override = entry.failureActionOverrides.find((candidate) =>
    matchesAny(candidate.namespaces, namespace ?? ''),
  );
  return override?.action ?? entry.failureAction;
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
