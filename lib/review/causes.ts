/**
 * The typed cause of a check that did not pass, read from what failed: the error a port threw (by
 * its class and code, never its text), or the verifier's outcome. Pure.
 */
import { describeError, ImagegateError } from '../errors';
import type { CheckCause } from '../model/outcome';
import { ResourceLimitError } from '../model/byte-budget';
import { RegistryContentError, RegistryError } from '../model/registry-errors';
import type { VerificationError, VerificationFailure } from '../model/verification';

/**
 * What kept a read from `registry` (or the image's registry) from answering. A timeout, or any
 * untyped error, after the review's `signal` aborted is the review's deadline, not the registry's
 * fault; content the registry got wrong stays a registry cause whatever the time.
 */
export function causeOfError(
  error: unknown,
  signal: AbortSignal | undefined,
  registry: string,
  detail: string = describeError(error ?? 'signatures were not fetched'),
): CheckCause {
  if (error instanceof RegistryContentError) {
    return { kind: 'registry', code: error.code, registry: error.registry, detail };
  }
  const untyped = !(error instanceof ImagegateError);
  const timedOut = error instanceof RegistryError && error.code === 'REGISTRY_TIMEOUT';
  if (signal?.aborted && (untyped || timedOut)) {
    return { kind: 'deadline', registry: error instanceof RegistryError ? error.registry : registry, detail };
  }
  if (error instanceof RegistryError) {
    return {
      kind: 'registry',
      code: error.code,
      registry: error.registry,
      ...(error.status !== undefined ? { status: error.status } : {}),
      detail,
    };
  }
  if (error instanceof ResourceLimitError) {
    return { kind: 'registry', code: error.code, registry: error.registry, detail };
  }
  return { kind: 'internal', detail };
}

/**
 * The cause of a failed or errored verification, from the verifier's outcome: an error is what
 * kept the check from running (the read it names); a failure is the registry's when the deciding
 * evidence was content that cannot be trusted, else the verifier's `failure`.
 */
export function causeOfOutcome(
  outcome: VerificationFailure | VerificationError,
  signal: AbortSignal | undefined,
  registry: string,
  attestations: boolean,
): CheckCause {
  if (outcome.status === 'error') return causeOfError(outcome.cause, signal, registry, outcome.reason);
  if (outcome.cause instanceof RegistryContentError) {
    return {
      kind: 'registry',
      code: outcome.cause.code,
      registry: outcome.cause.registry,
      detail: outcome.reason,
      ...(attestations ? { attestations } : {}),
    };
  }
  return {
    kind: 'verification',
    failure: outcome.failure,
    detail: outcome.reason,
    ...(attestations ? { attestations } : {}),
  };
}
