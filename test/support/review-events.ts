/**
 * ReviewEvents for the observability tests, built the way the webhook builds them: check results
 * bound to policies from the real parser, the decision from the real `decide`, the answer from the
 * real `toAdmissionReview`.
 */
import { toAdmissionReview } from '../../lib/admission/respond';
import type { AdmissionRequest } from '../../lib/model/admission';
import { decide, type ImageCheckResult } from '../../lib/decision/decide';
import { checkMessage, passMessage } from '../../lib/decision/messages';
import type { CheckCause } from '../../lib/model/outcome';
import { parseImageReference } from '../../lib/model/image';
import type { ReviewEvent } from '../../lib/review/events';
import { matchAny, policyDocument, policySet, rule, verifyImagesEntry } from './builders';

type Json = Record<string, unknown>;

export interface CheckOptions {
  readonly status: ImageCheckResult['status'];
  readonly image: string;
  readonly container?: number;
  readonly digest?: string;
  /** Why a check that is not a pass did not pass; its message is made from it as the review makes it. */
  readonly cause?: CheckCause;
  readonly cacheHit?: boolean;
  readonly policy?: string;
  /** Makes the policy a namespaced `Policy` in this namespace. */
  readonly policyNamespace?: string;
  readonly rule?: string;
  readonly failureAction?: 'Enforce' | 'Audit';
  readonly failurePolicy?: 'Fail' | 'Ignore';
  /** Extra `spec` fields of the policy (validationFailureActionOverrides, …). */
  readonly spec?: Json;
  /** Replaces the entry (original syntax, overrides). */
  readonly entry?: Json;
}

/** One check result as lib/review/review.ts produces it. */
export function check(options: CheckOptions): ImageCheckResult {
  const ruleName = options.rule ?? 'check-image';
  const entry =
    options.entry ??
    verifyImagesEntry(['*'], undefined, {
      failureAction: options.failureAction ?? 'Enforce',
      ...(options.failureAction === 'Audit' ? { mutateDigest: false } : {}),
    });
  const set = policySet(
    policyDocument({
      name: options.policy ?? 'check-image',
      ...(options.policyNamespace ? { kind: 'Policy' as const, namespace: options.policyNamespace } : {}),
      spec: { failurePolicy: options.failurePolicy ?? 'Fail', ...options.spec },
      rules: [rule(ruleName, matchAny({ kinds: ['Pod'] }), [entry])],
    }),
  );
  const policy = set.policies[0]!;
  const container = options.container ?? 0;
  const base = {
    binding: { policy, rule: policy.rules[0]!, ruleName },
    entry: policy.rules[0]!.verifyImages[0]!,
    site: {
      image: options.image,
      pointer: `/spec/containers/${container}/image`,
      containerName: `c${container}`,
      field: 'containers' as const,
    },
    image: options.image,
    cacheHit: options.cacheHit ?? false,
  };
  if (options.status === 'pass') {
    return {
      ...base,
      status: 'pass',
      message: passMessage(options.image, false),
      digest: options.digest ?? `sha256:${'d'.repeat(64)}`,
      ref: parseImageReference(options.image),
    };
  }
  const cause = options.cause ?? defaultCause(options.status);
  const subject = { image: options.image, policyName: policy.name, ruleName };
  return {
    ...base,
    status: options.status,
    cause,
    message: checkMessage(subject, cause),
    ...(options.digest ? { digest: options.digest } : {}),
  };
}

function defaultCause(status: Exclude<ImageCheckResult['status'], 'pass'>): CheckCause {
  switch (status) {
    case 'fail':
      return { kind: 'verification', failure: 'NO_SIGNATURES', detail: 'signature not found' };
    case 'error': {
      const registry = '127.0.0.1:1';
      const detail = `registry ${registry} unreachable (ECONNREFUSED)`;
      return { kind: 'registry', code: 'REGISTRY_UNREACHABLE', registry, detail };
    }
    case 'skip':
      return { kind: 'skipped' };
  }
}

/** The event the webhook reports for `request` answered from `results` (or failed with `error`). */
export function reviewEvent(
  request: AdmissionRequest,
  results: readonly ImageCheckResult[],
  options: { cluster?: string; error?: string; durationMs?: number; policySetVersion?: string } = {},
): ReviewEvent {
  const { decision, effects } = decide(request, results);
  const failed = options.error !== undefined;
  return {
    cluster: options.cluster,
    request,
    policySetVersion: failed ? undefined : (options.policySetVersion ?? '0123456789abcdef'),
    outcome: failed ? undefined : { decision, results, effects },
    response: toAdmissionReview(
      request.apiVersion,
      request.uid,
      failed
        ? {
            allowed: false,
            message: `imagegate could not review this request: ${options.error}`,
            warnings: [],
            patch: [],
          }
        : decision,
    ),
    durationMs: options.durationMs ?? 42.25,
    error: options.error,
    errorCause: failed ? { kind: 'internal' } : undefined,
  };
}
