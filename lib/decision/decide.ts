import type { AdmissionDecision, AdmissionRequest } from '../model/admission';
import type { ImageReference } from '../model/image';
import type { RuleBinding } from '../policy/match';
import type { FailureAction, ImageVerification } from '../policy/types';
import { anyMatches } from '../model/wildcard';
import type { CheckCause, CheckEffect } from '../model/outcome';
import type { ImageSite } from '../workload/images';
import { blockedMessage, ignoredErrorWarning, ruleWarning } from './messages';
import { digestPatch, type DigestPin } from './patch';

/**
 * One image checked by one verifyImages entry, with Kyverno's rule status (pass, fail = not
 * trusted, error = could not check, skip). Every status but a pass carries its typed cause;
 * `message` is made from it by lib/decision/messages.ts.
 */
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
  | { readonly status: 'fail' | 'error' | 'skip'; readonly cause: CheckCause; readonly digest?: string }
);

/** The answer, and what each check did to it (`effects[i]` is `results[i]`'s). */
export interface Decided {
  readonly decision: AdmissionDecision;
  readonly effects: readonly CheckEffect[];
}

/**
 * Turns image check results into the admission decision:
 * - an Enforce failure, or an error under failurePolicy Fail, denies, with Kyverno's message;
 * - Audit failures, errors under failurePolicy Ignore and skips become warnings;
 * - each verified image site with `mutateDigest` gets one `replace` op pinning its digest.
 */
export function decide(request: AdmissionRequest, results: readonly ImageCheckResult[]): Decided {
  const blocked = new Map<string, Map<string, string[]>>();
  const warnings: string[] = [];
  const pins: DigestPin[] = [];
  const effects: CheckEffect[] = [];

  for (const result of results) {
    const { policy } = result.binding;
    const { ruleName } = result.binding;
    const effect = effectOf(result, request.namespace);
    effects.push(effect);
    switch (result.status) {
      case 'pass':
        if (result.entry.mutateDigest && !result.ref.digest) {
          pins.push({ pointer: result.site.pointer, ref: result.ref, digest: result.digest });
        }
        break;
      case 'skip':
        warnings.push(ruleWarning(policy.name, ruleName, result.message));
        break;
      case 'fail':
      case 'error': {
        if (effect === 'warn') {
          const ignored =
            result.status === 'error' && effectiveAction(result.entry, request.namespace) === 'Enforce';
          warnings.push((ignored ? ignoredErrorWarning : ruleWarning)(policy.name, ruleName, result.message));
        } else {
          const rules = blocked.get(policy.name) ?? new Map<string, string[]>();
          blocked.set(policy.name, rules);
          const messages = rules.get(ruleName) ?? [];
          if (!messages.includes(result.message)) messages.push(result.message);
          rules.set(ruleName, messages);
        }
        break;
      }
    }
  }

  const uniqueWarnings = [...new Set(warnings)];
  if (blocked.size > 0) {
    const message = blockedMessage(request, blocked);
    return { decision: { allowed: false, message, warnings: uniqueWarnings, patch: [] }, effects };
  }
  return {
    decision: { allowed: true, message: undefined, warnings: uniqueWarnings, patch: digestPatch(pins) },
    effects,
  };
}

/**
 * What one check does to the answer: an Enforce failure, or an error under failurePolicy Fail,
 * blocks; Audit failures, errors under failurePolicy Ignore and skips warn; a pass does nothing.
 */
function effectOf(result: ImageCheckResult, namespace: string | undefined): CheckEffect {
  switch (result.status) {
    case 'pass':
      return 'none';
    case 'skip':
      return 'warn';
    case 'fail':
    case 'error':
      if (effectiveAction(result.entry, namespace) !== 'Enforce') return 'warn';
      if (result.status === 'error' && result.binding.policy.failurePolicy === 'Ignore') return 'warn';
      return 'block';
  }
}

/**
 * The failure action in force for an entry's check. Decided per rule, as Kyverno does: every entry
 * carries its rule's action (Enforce when any entry of the rule sets it, else the first action an
 * entry sets); a rule whose entries set none carries the policy's overrides, the first matching
 * `namespace` winning, and else the policy's `validationFailureAction` (lib/policy/compile/policy.ts).
 */
export function effectiveAction(entry: ImageVerification, namespace: string | undefined): FailureAction {
  const override = entry.failureActionOverrides.find((candidate) =>
    anyMatches(candidate.namespaces, namespace ?? ''),
  );
  return override?.action ?? entry.failureAction;
}
