import { decodeAdmissionReview } from './admission/decode';
import { toAdmissionReview, type AdmissionReviewResponse } from './admission/respond';
import { reviewAdmission, type ImageSource } from './admission/review';
import type { AdmissionRequest } from './admission/types';
import { describeError } from './errors';
import type { PolicyProvider } from './policy/policy-set';

/** Port: where operational messages go (stderr for the CLI, structured logs in Lambda). */
export interface Log {
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

export interface WebhookDependencies {
  readonly policies: PolicyProvider;
  readonly images: ImageSource;
  readonly log: Log;
}

/**
 * Answers one AdmissionReview body. Throws {@link AdmissionDecodeError} for a body that is not
 * an AdmissionReview (the caller answers 400); every other outcome, including a policy set
 * that cannot be loaded or an internal fault, is a well-formed AdmissionReview that fails
 * closed.
 */
export async function answerAdmissionReview(
  body: unknown,
  deps: WebhookDependencies,
  options: { cluster?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<AdmissionReviewResponse> {
  const request = decodeAdmissionReview(body);
  const { cluster, signal } = options;
  try {
    const policySet = await deps.policies.current(cluster);
    const decision = await reviewAdmission(request, policySet, deps.images, signal);
    return toAdmissionReview(request.apiVersion, request.uid, decision);
  } catch (error) {
    deps.log.error('admission review failed; denying', {
      cluster,
      uid: request.uid,
      error: describeError(error),
    });
    return failClosed(request, error);
  }
}

function failClosed(request: AdmissionRequest, error: unknown): AdmissionReviewResponse {
  return toAdmissionReview(request.apiVersion, request.uid, {
    allowed: false,
    message: `imagegate could not review this request: ${describeError(error)}`,
    warnings: [],
    patch: [],
  });
}
