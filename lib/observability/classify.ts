import { effectiveAction as entryAction, type ImageCheckResult } from '../decision/decide';
import type { FailureAction } from '../policy/types';
import type { RegistryErrorClass } from './catalogue';

/**
 * What one check did to the answer, as lib/decision/decide.ts decides it: `block` (an Enforce
 * failure, or an error under failurePolicy Fail), `warn` (Audit failures, errors under
 * failurePolicy Ignore, skips) or `none` (a pass).
 */
export type CheckEffect = 'none' | 'warn' | 'block';

/** The failure action in force for a check (the decision's own rule). */
export function effectiveAction(result: ImageCheckResult, namespace: string | undefined): FailureAction {
  return entryAction(result.entry, namespace);
}

export function checkEffect(result: ImageCheckResult, namespace: string | undefined): CheckEffect {
  switch (result.status) {
    case 'pass':
      return 'none';
    case 'skip':
      return 'warn';
    case 'fail':
    case 'error':
      if (effectiveAction(result, namespace) !== 'Enforce') return 'warn';
      if (result.status === 'error' && result.binding.policy.failurePolicy === 'Ignore') return 'warn';
      return 'block';
  }
}

/**
 * The registry error class of a check, or `undefined` when the registry is not to blame (a pass,
 * a skip, a missing or wrong signature). Read from the message lib/oci wrote (ImageCheckResult
 * carries no error code); test/unit/observability/classify.test.ts pins the messages against the
 * real registry client, so a reworded message fails there rather than turning into `other` here.
 */
export function registryErrorClass(result: ImageCheckResult): RegistryErrorClass | undefined {
  if (result.status === 'pass' || result.status === 'skip') return undefined;
  const message = result.message;
  const content = contentClass(message);
  if (result.status === 'fail') return content;
  return transportClass(message) ?? content ?? 'other';
}

const HTTP_STATUS = /registry \S+ answered HTTP (\d{3})/;

function transportClass(message: string): RegistryErrorClass | undefined {
  if (/did not answer in time|review deadline reached/.test(message)) return 'deadline';
  if (/registry \S+ timed out \(/.test(message)) return 'timeout';
  if (/registry \S+ unreachable \(/.test(message)) return 'unreachable';
  if (
    /registry \S+ refused access to |credentials for registry \S+ could not be obtained|token service of registry |registry \S+ named (an invalid|a) token realm/.test(
      message,
    )
  ) {
    return 'auth';
  }
  const status = HTTP_STATUS.exec(message)?.[1];
  if (status) {
    if (status === '429') return 'rate_limited';
    return status.startsWith('5') ? 'http_5xx' : 'http_4xx';
  }
  if (/registry \S+ redirected (too many times|to )/.test(message)) return 'http_4xx';
  return undefined;
}

function contentClass(message: string): RegistryErrorClass | undefined {
  if (/image not found: registry /.test(message)) return 'not_found';
  if (/registry \S+ refused: /.test(message)) return 'address_refused';
  if (
    /served (manifest|blob) bytes with digest|announced digest \S+ but served|with unexpected media type|registry \S+ sent more than \d+ bytes|sent more than \S+ MiB for (the signatures and attestations of one image|this review)|registry \S+ sent a .* that is not (JSON|a JSON object)|(signature|attestation) manifest of \S+ in \S+ has no layers|(signature|attestation) layer without a sha256 digest|registry \S+ cut the body of \S+ short/.test(
      message,
    )
  ) {
    return 'content';
  }
  return undefined;
}
